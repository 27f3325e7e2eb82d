// The benchmarks' CPU accounting (bench/lib/cpu.ts) reads /proc: it must agree with what
// Node itself reports for this process, and must not name a local process for a remote database.
import t from 'tap';
import { spawn } from 'node:child_process';
import { cpuMeter, localPostmaster, machineCpuSeconds, mainThreadCpuSeconds, processCpuSeconds, treeCpuSeconds } from '../../bench/lib/cpu.js';

/** Burns `seconds` of this process's CPU, as Node counts it. */
function burn(seconds: number): void {
  const start = process.cpuUsage();
  while (true) {
    const u = process.cpuUsage(start);
    if ((u.user + u.system) / 1e6 >= seconds) return;
  }
}

t.test('process CPU from /proc agrees with process.cpuUsage()', async (t) => {
  const node = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const procBefore = processCpuSeconds(process.pid)!;
  const nodeBefore = node();
  burn(0.3);
  const procSpent = processCpuSeconds(process.pid)! - procBefore;
  const nodeSpent = node() - nodeBefore;
  // /proc counts in clock ticks (10 ms); allow a few either way.
  t.ok(Math.abs(procSpent - nodeSpent) < 0.05, `/proc ${procSpent.toFixed(3)} s, Node ${nodeSpent.toFixed(3)} s`);
  t.equal(processCpuSeconds(2 ** 22 + 1), null, 'a process that does not exist reads as null');
});

t.test('the main thread is part of its process, and spends what this thread burns', async (t) => {
  const before = mainThreadCpuSeconds(process.pid)!;
  burn(0.3);
  const own = processCpuSeconds(process.pid)!;
  const main = mainThreadCpuSeconds(process.pid)!;
  // burn() counts the whole process; helper threads can only make the main thread's share smaller.
  t.ok(main - before > 0.15 && main - before < 0.33, `the main thread spent ${(main - before).toFixed(3)} s of a 0.3 s burn`);
  t.ok(main <= own, `main thread ${main} s within the process's ${own} s`);
  t.equal(mainThreadCpuSeconds(2 ** 22 + 1), null);
});

t.test('a process tree counts its children', async (t) => {
  const child = spawn(process.execPath, ['-e', 'const s = process.cpuUsage(); while (process.cpuUsage(s).user < 300000); setInterval(() => {}, 1000)']);
  t.teardown(() => void child.kill());
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => (processCpuSeconds(child.pid!) ?? 0) >= 0.3 && (clearInterval(poll), resolve()), 20);
  });
  // Read the parts first: the counters only grow, so the tree read after them holds at least
  // their sum (this process spends CPU reading /proc in between, so a tolerance would not do).
  const own = processCpuSeconds(process.pid)!;
  const childs = processCpuSeconds(child.pid!)!;
  const tree = treeCpuSeconds(process.pid)!;
  t.ok(tree >= own + childs, `own CPU plus the child’s: tree ${tree} s, own ${own} s, child ${childs} s`);
});

t.test('the machine and the meter', async (t) => {
  const m = machineCpuSeconds();
  t.ok(m.busy > 0 && m.busy <= m.total, 'busy within total');
  const meter = cpuMeter({ self: () => processCpuSeconds(process.pid), gone: undefined });
  burn(0.2);
  const f = meter.stop(1_000);
  t.ok(f.usPerUnit.self! >= 150 && f.usPerUnit.self! <= 260, `about 200 µs per unit of 1,000: ${f.usPerUnit.self}`);
  t.equal(f.usPerUnit.gone, null, 'a source that cannot be read is null');
  t.ok(f.machineUsPerUnit >= f.usPerUnit.self! - 20, 'the machine spent at least what this process did');
});

t.test('a database on another host has no local postmaster', async (t) => {
  t.equal(localPostmaster('postgres://db.example.net:5432/baygate', process.pid), null);
  t.equal(localPostmaster('postgres://127.0.0.1:5432/baygate', process.pid), null, 'a local pid that is not a postgres backend');
});
