/** Owns small network helpers: free-port discovery and fail-fast port checks. */
import { createServer } from 'node:net';

/** Asks the kernel for a free TCP port on loopback. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Raised when a configured port is taken; names the variable to change. */
export class PortInUseError extends Error {
  constructor(port: number, variable: string) {
    super(`port ${port} is already in use: set ${variable} to a free port`);
    this.name = 'PortInUseError';
  }
}

export function assertPortFree(port: number, host: string, variable: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port, variable) : err),
    );
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}
