// mode.js: the watch page's choice between WebRTC and LL-HLS. 'auto' (the default) plays over
// WebRTC and falls back to LL-HLS when WebRTC fails; 'webrtc' and 'hls' play only that way.
// The choice comes from ?mode= and the mode menu, which keeps it in the page URL.
import { loadHlsJs, usesNativeHLS } from './hlsplayer.js';

export const MODES = ['auto', 'webrtc', 'hls'];

// modeFromQuery reads ?mode=webrtc|hls; anything else means 'auto'.
export function modeFromQuery(search = location.search) {
  const m = (new URLSearchParams(search).get('mode') || '').toLowerCase();
  return MODES.includes(m) ? m : 'auto';
}

// setupModeMenu shows initial in the <select> and calls onPick(choice) when the viewer picks
// another, after putting it into the page URL (a reload keeps it).
export function setupModeMenu(menu, initial, onPick) {
  menu.value = initial;
  menu.addEventListener('change', () => {
    const choice = MODES.includes(menu.value) ? menu.value : 'auto';
    const url = new URL(location.href);
    if (choice === 'auto') url.searchParams.delete('mode');
    else url.searchParams.set('mode', choice);
    history.replaceState(history.state, '', url);
    onPick(choice);
  });
}

// hlsUnavailable says why the page cannot fall back to LL-HLS ('' when it can): hls.js not
// built (and no native HLS), or the server does not serve the room over LL-HLS (404; a slow
// answer counts as served: the multivariant playlist waits for the stream to be ready).
export async function hlsUnavailable(video, url) {
  if (!usesNativeHLS(video)) {
    try {
      await loadHlsJs();
    } catch (err) {
      return err.message;
    }
  }
  try {
    const res = await fetch(url, { method: 'HEAD', cache: 'no-store', signal: AbortSignal.timeout(3000) });
    return res.status === 404 ? 'the server does not serve this room over LL-HLS' : '';
  } catch (err) {
    return err.name === 'TimeoutError' ? '' : `LL-HLS: ${err.message}`;
  }
}
