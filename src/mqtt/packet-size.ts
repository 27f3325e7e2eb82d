/**
 * Owns the bound on MQTT packet size for both ends baygate runs: the embedded broker
 * (src/mqtt/broker.ts) and ingest's consumer (ingest/mqtt.ts). mqtt-packet, the parser
 * under both, buffers a packet until its declared Remaining Length has arrived, up to the
 * protocol's 256 MB (MQTT 3.1.1 §2.2.3), so a peer that announces a huge packet makes us
 * hold whatever it sends. This guard reads the fixed headers as the bytes stream past and
 * names the first packet that declares more than the limit, before its body is buffered.
 */

/**
 * 256 KiB. The largest thing that legitimately crosses baygate's MQTT is a ChirpStack
 * event: a LoRaWAN payload is at most 242 bytes (LoRaWAN Regional Parameters), and the
 * JSON around it grows by some 300-400 bytes per receiving gateway in rxInfo, so this
 * leaves room for hundreds of gateways while keeping one connection's buffer small.
 * The same figure as MQTT 5's Maximum Packet Size semantics: the whole packet, header included.
 */
export const MQTT_MAX_PACKET_BYTES = 256 * 1024;

/**
 * What ingest's consumer accepts from its broker: twice the limit brokers get. A broker
 * configured with MQTT_MAX_PACKET_BYTES (the embedded one; Mosquitto's `max_packet_size` in
 * deploy/mosquitto/mosquitto.conf) forwards what it accepted slightly larger (a packet id,
 * MQTT 5 properties), and refusing that would close the session on every redelivery of the
 * same message; a broker without a limit still cannot make ingest buffer hundreds of MB.
 */
export const MQTT_CONSUMER_MAX_PACKET_BYTES = 2 * MQTT_MAX_PACKET_BYTES;

/** Remaining Length takes at most 4 bytes (MQTT 3.1.1 §2.2.3). */
const MAX_LENGTH_BYTES = 4;

export class PacketSizeGuard {
  /** Body bytes of the current packet still to come. */
  private skip = 0;
  /** True after a packet's first byte, while its Remaining Length is read. */
  private inHeader = false;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;

  constructor(readonly maxBytes: number = MQTT_MAX_PACKET_BYTES) {}

  /**
   * Follows the packet boundaries through `chunk`; returns the declared size of the first
   * packet over the limit (or Infinity for a Remaining Length longer than 4 bytes, which
   * is malformed), else null. After a non-null answer the connection is to be closed.
   */
  check(chunk: Buffer): number | null {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        continue;
      }
      if (!this.inHeader) {
        // The fixed header's first byte: packet type and flags.
        this.inHeader = true;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        i++;
        continue;
      }
      const b = chunk[i++]!;
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (b & 0x80) {
        if (this.lengthBytes >= MAX_LENGTH_BYTES) return Infinity;
        continue;
      }
      this.inHeader = false;
      const total = 1 + this.lengthBytes + this.length;
      if (total > this.maxBytes) return total;
      this.skip = this.length;
    }
    return null;
  }
}
