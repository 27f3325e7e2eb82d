/**
 * Owns the live view's map: Leaflet (bundled from npm, nothing fetched) with one circle
 * marker per space that carries coordinates, coloured by its state and kept current by
 * `update`. Spaces are placed by `config.lat` / `config.lon` (WGS 84 degrees: the spaces
 * table has no columns for them, and `config` already carries per-space facts such as
 * `zone`). Map tiles are drawn only when the site's `config.map_tiles_url` names a tile
 * server ({z}/{x}/{y} template, Leaflet's TileLayer syntax); by default there is none,
 * since a console on a closed network cannot reach a public one, and the markers stand
 * on a blank background.
 */
import * as L from 'leaflet';
import type { Device, Site, Space, SpaceState } from './types.js';

/** Closest zoom: parking spaces are a few metres apart (zoom 21 ≈ 0.07 m per pixel at the equator). */
const MAX_ZOOM = 22;
const MARKER_RADIUS_PX = 11;
const FIT_PADDING_PX = 30;

const DEVICE_MARKER_RADIUS_PX = 5;

export interface SpaceMap {
  /** Spaces by their config coordinates; devices where ChirpStack last located them (Device.location). */
  update(spaces: Space[], devices?: Device[]): void;
  destroy(): void;
}

/** The space's coordinates when its config carries valid ones. */
export function coordinates(s: Space): [number, number] | null {
  const { lat, lon } = s.config as { lat?: unknown; lon?: unknown };
  if (typeof lat !== 'number' || typeof lon !== 'number') return null;
  if (!(Math.abs(lat) <= 90 && Math.abs(lon) <= 180)) return null;
  return [lat, lon];
}

/** Where ChirpStack last located the device, when it has and the coordinates are valid. */
export function deviceCoordinates(d: Device): [number, number] | null {
  const l = d.location;
  if (!l || !(Math.abs(l.latitude) <= 90 && Math.abs(l.longitude) <= 180)) return null;
  return [l.latitude, l.longitude];
}

/** The tile template a site's config names, if it is one Leaflet can use. */
export function tilesOf(site: Site | undefined): { url: string; attribution: string } | null {
  const url = site?.config.map_tiles_url;
  if (typeof url !== 'string' || !/^(https?:\/\/|\/)/.test(url) || !url.includes('{z}')) return null;
  const attribution = site?.config.map_tiles_attribution;
  return { url, attribution: typeof attribution === 'string' ? escapeHtml(attribution) : '' };
}

/** Leaflet writes attributions as HTML; a site's config is data, shown as text. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The state colours are the stylesheet's (style.css :root), so tile and marker always agree. */
function stateColour(state: SpaceState): string {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${state}`).trim() || '#5b6069';
}

export function spaceMap(container: HTMLElement, site: Site | undefined, open: (spaceId: string) => void): SpaceMap {
  const map = L.map(container, { maxZoom: MAX_ZOOM, zoomSnap: 0.5, attributionControl: false, keyboard: true });
  const tiles = tilesOf(site);
  if (tiles) {
    L.control.attribution({ prefix: false }).addTo(map);
    L.tileLayer(tiles.url, { maxZoom: MAX_ZOOM, maxNativeZoom: 19, attribution: tiles.attribution }).addTo(map);
  }
  container.dataset.tiles = tiles ? 'on' : 'off';
  const markers = new Map<string, L.CircleMarker>();
  let fitted = '';

  function label(s: Space): string {
    return `Space ${s.code}: ${s.current_state}`;
  }

  /**
   * Devices ChirpStack located (a GPS fix, the profile's configured position, a geolocation
   * resolver): a small dark dot each, apart from the spaces' state colours, named in its
   * tooltip and aria-label with how it was located.
   */
  const deviceMarkers = new Map<string, L.CircleMarker>();
  function placeDevices(located: (readonly [Device, [number, number]])[]): void {
    const keep = new Set(located.map(([d]) => d.id));
    for (const [id, m] of deviceMarkers) if (!keep.has(id)) (m.remove(), deviceMarkers.delete(id));
    for (const [d, at] of located) {
      const l = d.location!;
      const text = `Device ${d.name ?? d.dev_eui}: located by ${l.source}${l.accuracy !== null ? ` (±${Math.round(l.accuracy)} m)` : ''}`;
      let m = deviceMarkers.get(d.id);
      if (!m) {
        m = L.circleMarker(at, { radius: DEVICE_MARKER_RADIUS_PX, color: '#ffffff', weight: 1.5, fillColor: '#1f2933', fillOpacity: 1, className: 'device-marker' });
        m.bindTooltip('', { direction: 'top' });
        m.addTo(map);
        deviceMarkers.set(d.id, m);
      } else m.setLatLng(at);
      // A text node: the device's name is the operator's text, and Leaflet writes strings as HTML.
      const tip = document.createElement('span');
      tip.textContent = text;
      m.setTooltipContent(tip);
      const el = m.getElement();
      if (el) {
        el.setAttribute('data-device-marker', d.dev_eui);
        el.setAttribute('data-source', l.source);
        el.setAttribute('aria-label', text);
      }
    }
  }

  function decorate(m: L.CircleMarker, s: Space): void {
    const el = m.getElement();
    if (!el) return;
    el.setAttribute('data-space-marker', s.code);
    el.setAttribute('data-state', s.current_state);
    el.setAttribute('aria-label', label(s));
  }

  return {
    update(spaces, devices = []) {
      const placed = spaces.map((s) => [s, coordinates(s)] as const).filter((x): x is readonly [Space, [number, number]] => x[1] !== null);
      const located = devices.map((d) => [d, deviceCoordinates(d)] as const).filter((x): x is readonly [Device, [number, number]] => x[1] !== null);
      // Fits the view when the set of placed spaces and devices changes, not on every state
      // change (the user may have panned). First: Leaflet defers adding layers to a map that
      // has no view yet, and a marker must be on the map for its element to exist.
      const key = [...placed.map(([s, at]) => `${s.id}@${at.join(',')}`), ...located.map(([d, at]) => `${d.id}@${at.join(',')}`)].sort().join(';');
      if (key && key !== fitted) {
        fitted = key;
        map.fitBounds(L.latLngBounds([...placed.map(([, at]) => at), ...located.map(([, at]) => at)]), { padding: [FIT_PADDING_PX, FIT_PADDING_PX], maxZoom: MAX_ZOOM - 1 });
      }
      placeDevices(located);
      const keep = new Set(placed.map(([s]) => s.id));
      for (const [id, m] of markers) if (!keep.has(id)) (m.remove(), markers.delete(id));
      for (const [s, at] of placed) {
        const style = { fillColor: stateColour(s.current_state) };
        let m = markers.get(s.id);
        if (!m) {
          m = L.circleMarker(at, { radius: MARKER_RADIUS_PX, color: '#ffffff', weight: 2, fillOpacity: 1, className: 'space-marker', ...style });
          // Leaflet writes string content as HTML; the code is the operator's text, so it goes in as a text node.
          const name = document.createElement('span');
          name.textContent = s.code;
          m.bindTooltip(name, { permanent: true, direction: 'right', className: 'space-label' });
          m.on('click', () => open(s.id));
          m.addTo(map);
          const el = m.getElement();
          // Leaflet's vector markers are not focusable; these are links to the space, so they are made so.
          if (el) {
            el.setAttribute('tabindex', '0');
            el.setAttribute('role', 'link');
            el.addEventListener('keydown', (ev) => {
              if ((ev as KeyboardEvent).key === 'Enter') open(s.id);
            });
          }
          markers.set(s.id, m);
        } else {
          m.setLatLng(at);
          m.setStyle(style);
        }
        decorate(m, s);
      }
    },
    destroy() {
      map.remove();
    },
  };
}
