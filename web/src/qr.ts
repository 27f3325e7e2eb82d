/**
 * Owns reading a DevEUI from a QR code: from the camera (getUserMedia, where the browser
 * allows it: a secure context and the user's consent) or from a photo, decoded in the
 * page by jsQR (bundled from npm). Understands the LoRa Alliance device-label format and
 * falls back to the first 16-hex-digit EUI in any other text.
 */
import jsQR from 'jsqr';

/** Frames decoded per second while the camera looks for a code: enough to feel instant, light on a phone. */
const SCAN_FPS = 6;
/** Photos are scaled down to this many pixels on their long side before decoding (a phone photo is 12 MP). */
const PHOTO_MAX_PX = 1600;

/**
 * The DevEUI a QR code's text names, lower-case hex, or null.
 * LoRa Alliance TR005 "LoRaWAN Device Identification QR Codes" labels read
 * `LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>[:<options>]` (the DevEUI is the fourth field);
 * other vendors print the bare EUI, often with separators ("70-B3-D5-…").
 */
export function devEuiFromQr(text: string): string | null {
  const t = text.trim();
  if (/^LW:D0:/i.test(t)) {
    const eui = t.split(':')[3] ?? '';
    return /^[0-9a-f]{16}$/i.test(eui) ? eui.toLowerCase() : null;
  }
  const m = /(?<![0-9a-f])(?:[0-9a-f]{2}[-: ]?){7}[0-9a-f]{2}(?![0-9a-f])/i.exec(t);
  return m ? m[0].replace(/[^0-9a-f]/gi, '').toLowerCase() : null;
}

function decode(source: CanvasImageSource, width: number, height: number, canvas: HTMLCanvasElement): string | null {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx || width === 0 || height === 0) return null;
  ctx.drawImage(source, 0, 0, width, height);
  const img = ctx.getImageData(0, 0, width, height);
  return jsQR(img.data, width, height, { inversionAttempts: 'attemptBoth' })?.data ?? null;
}

/** The QR code's text in a photo, or null when none could be read. */
export async function readQrFromFile(file: Blob): Promise<string | null> {
  const bitmap = await createImageBitmap(file);
  try {
    const scale = Math.min(1, PHOTO_MAX_PX / Math.max(bitmap.width, bitmap.height));
    return decode(bitmap, Math.round(bitmap.width * scale), Math.round(bitmap.height * scale), document.createElement('canvas'));
  } finally {
    bitmap.close();
  }
}

/** The camera path is offered only where the browser has it (not over plain HTTP to another host, not in old browsers). */
export function cameraAvailable(): boolean {
  return window.isSecureContext && typeof navigator.mediaDevices?.getUserMedia === 'function';
}

export interface Scan {
  stop(): void;
}

/**
 * Shows the back camera in `video` and calls `found` with each QR text it reads until
 * `found` accepts one (returns true), then stops the camera. Rejects when the camera
 * cannot be opened (refused, absent).
 */
export async function scanQr(video: HTMLVideoElement, found: (text: string) => boolean): Promise<Scan> {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: 'environment' } }, audio: false });
  const canvas = document.createElement('canvas');
  let timer: ReturnType<typeof setInterval> | undefined;
  const stop = () => {
    clearInterval(timer);
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
  video.srcObject = stream;
  video.muted = true;
  video.setAttribute('playsinline', ''); // iOS Safari would otherwise open a full-screen player
  await video.play();
  timer = setInterval(() => {
    if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) return;
    const text = decode(video, video.videoWidth, video.videoHeight, canvas);
    if (text !== null && found(text)) stop();
  }, 1000 / SCAN_FPS);
  return { stop };
}
