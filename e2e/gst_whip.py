#!/usr/bin/python3
"""gst_whip.py: a GStreamer WHIP publisher (webrtcbin + x264enc + opusenc), the closest stand-in
for OBS's WHIP output that Debian bookworm has. Used by e2e_test.go; also handy by hand:

    /usr/bin/python3 e2e/gst_whip.py http://127.0.0.1:8080/whip/ROOM [--seconds=10] [--size=640x360]
    /usr/bin/python3 e2e/gst_whip.py --check     # are the Python bindings and elements installed?

Non-trickle: it waits for ICE gathering, POSTs the offer once (Content-Type: application/sdp),
applies the answer, publishes for --seconds (SIGTERM or SIGINT ends it earlier), then DELETEs the
session resource. Prints JSON lines: {"http":201,"location":...}, {"ice":"<state>"}, and last
{"result":{"ok":bool,"connected":bool,"error":...,"packets_sent":{ssrc:n}}}. Exit 0 only if ICE
connected and RTP was sent. VERBOSE=1 prints the offer and answer on stderr.

Pitfalls handled (see CLIENTS.md section 3):
- libnice never gathers loopback candidates by itself (in a loopback-only network namespace it
  gathers none and ICE fails), so --local-ip (default 127.0.0.1) is added to webrtcbin's ICE agent
  with the "add-local-ip-address" signal; it is then the only host candidate.
- GStreamer 1.22's webrtcbin "ice-agent" getter returns no new reference: from Python the agent
  would be freed with its wrapper and the pipeline crash (exit 139), so a reference is taken.
- Transceivers are made sendonly (webrtcbin offers sendrecv otherwise).
- Run it with Debian's /usr/bin/python3: a python3 earlier on PATH (pyenv) has no `gi`.
Needs python3-gst-1.0, gir1.2-gst-plugins-bad-1.0, gstreamer1.0-{plugins-base,plugins-good,
plugins-bad,plugins-ugly,nice}.
"""
import argparse
import ctypes
import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

ELEMENTS = ['webrtcbin', 'nicesrc', 'videotestsrc', 'videoconvert', 'x264enc', 'rtph264pay',
            'audiotestsrc', 'audioconvert', 'audioresample', 'opusenc', 'rtpopuspay']


def out(**kw):
    print(json.dumps(kw), flush=True)


def parse_args():
    p = argparse.ArgumentParser(description='GStreamer WHIP publisher (H.264 + Opus)')
    p.add_argument('url', nargs='?', help='WHIP endpoint, e.g. http://127.0.0.1:8080/whip/room')
    p.add_argument('--seconds', type=float, default=10, help='how long to publish (default 10)')
    p.add_argument('--size', default='640x360', help='video WxH (default 640x360)')
    p.add_argument('--fps', type=int, default=30)
    p.add_argument('--bitrate', type=int, default=800, help='x264 kbit/s (default 800)')
    p.add_argument('--key-int', type=int, default=30, help='frames between IDRs (default 30)')
    p.add_argument('--bframes', type=int, default=0, help='x264 B-frames (0 = constrained baseline)')
    p.add_argument('--codec', choices=['h264', 'h265'], default='h264', help='video codec (h265: x265enc + rtph265pay)')
    p.add_argument('--local-ip', default='127.0.0.1', help='the only ICE host candidate to offer')
    p.add_argument('--check', action='store_true', help='only check that the GStreamer parts are installed')
    a = p.parse_args()
    if not a.check and not a.url:
        p.error('url is required')
    return a


def load_gst():
    """Imports the GStreamer bindings; returns the modules or raises with a clear message."""
    try:
        import gi
        gi.require_version('Gst', '1.0')
        gi.require_version('GstWebRTC', '1.0')
        gi.require_version('GstSdp', '1.0')
        from gi.repository import Gst, GstWebRTC, GstSdp, GLib
    except (ImportError, ValueError) as e:
        raise RuntimeError(f'GStreamer Python bindings missing ({e}): install python3-gst-1.0 '
                           'gir1.2-gst-plugins-bad-1.0 gir1.2-gst-plugins-base-1.0 and run with /usr/bin/python3')
    Gst.init(None)
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    if missing:
        raise RuntimeError(f'GStreamer elements missing: {", ".join(missing)} (install gstreamer1.0-plugins-base '
                           'gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice)')
    return Gst, GstWebRTC, GstSdp, GLib


def pipeline_text(a):
    width, height = (int(x) for x in a.size.split('x'))
    profile = 'constrained-baseline' if a.bframes == 0 else 'main'
    video = f'''x264enc tune=zerolatency speed-preset=veryfast bitrate={a.bitrate} key-int-max={a.key_int} bframes={a.bframes} !
 video/x-h264,profile={profile} ! rtph264pay config-interval=-1 aggregate-mode=zero-latency !
 application/x-rtp,media=video,encoding-name=H264,payload=96'''
    if a.codec == 'h265':  # no B-frames (zerolatency) and VPS/SPS/PPS at every keyframe, as WebRTC
        # H.265 encoders send (x265 alone repeats them only at IDRs, and its later keyframes are CRAs)
        video = f'''x265enc tune=zerolatency speed-preset=ultrafast bitrate={a.bitrate} key-int-max={a.key_int} option-string=repeat-headers=1 !
 video/x-h265,profile=main ! rtph265pay config-interval=-1 !
 application/x-rtp,media=video,encoding-name=H265,payload=96'''
    return f'''webrtcbin name=w bundle-policy=max-bundle
 videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={a.fps}/1 ! videoconvert !
 {video} ! w.
 audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! rtpopuspay !
 application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! w.'''


def ref_ice_agent(agent):
    """Takes the reference that GStreamer 1.22's ice-agent getter forgot to return."""
    cap = ctypes.pythonapi.PyCapsule_GetPointer
    cap.restype, cap.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    ctypes.CDLL('libgobject-2.0.so.0').g_object_ref(ctypes.c_void_p(cap(agent.__gpointer__, None)))


def publish(a, Gst, GstWebRTC, GstSdp, GLib):
    pipe = Gst.parse_launch(pipeline_text(a))
    w = pipe.get_by_name('w')
    loop = GLib.MainLoop()
    state = {'resource': None, 'connected': False, 'posted': False, 'error': None, 'stopped': False}
    verbose = bool(os.environ.get('VERBOSE'))

    def fail(msg):
        if not state['error']:
            state['error'] = msg
        out(error=msg)
        loop.quit()

    def post_offer():
        if state['posted']:
            return False
        state['posted'] = True
        sdp = w.get_property('local-description').sdp.as_text()
        if verbose:
            sys.stderr.write(f'--- offer ---\n{sdp}')
        req = urllib.request.Request(a.url, data=sdp.encode(), method='POST',
                                     headers={'Content-Type': 'application/sdp'})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, loc, answer = r.status, r.headers.get('Location'), r.read().decode()
        except urllib.error.HTTPError as e:
            fail(f'WHIP POST: HTTP {e.code}: {e.read().decode(errors="replace").strip()}')
            return False
        except Exception as e:  # connection refused, timeout...
            fail(f'WHIP POST failed: {e}')
            return False
        out(http=status, location=loc)
        if status != 201 or not loc:
            fail(f'WHIP POST: want 201 with a Location, got {status} Location={loc!r}')
            return False
        state['resource'] = urllib.parse.urljoin(a.url, loc)
        if verbose:
            sys.stderr.write(f'--- answer ---\n{answer}')
        res, msg = GstSdp.SDPMessage.new_from_text(answer)
        if res != GstSdp.SDPResult.OK:
            fail(f'cannot parse the SDP answer ({res})')
            return False
        w.emit('set-remote-description',
               GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg), Gst.Promise.new())
        return False

    def on_offer(promise, _el, _data):
        reply = promise.get_reply()
        offer = reply.get_value('offer') if reply and reply.has_field('offer') else None
        if offer is None:
            GLib.idle_add(fail, f'create-offer failed: {reply}')
            return
        w.emit('set-local-description', offer, Gst.Promise.new())

    def on_negotiation_needed(_el):
        w.emit('create-offer', None, Gst.Promise.new_with_change_func(on_offer, w, None))

    def on_gathering(_el, _pspec):
        if w.get_property('ice-gathering-state') == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(post_offer)

    def on_ice_state(_el, _pspec):
        s = w.get_property('ice-connection-state')
        out(ice=s.value_nick)
        if s in (GstWebRTC.WebRTCICEConnectionState.CONNECTED, GstWebRTC.WebRTCICEConnectionState.COMPLETED):
            state['connected'] = True

    def on_bus(_bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            fail(f'pipeline error: {err.message} ({debug})')

    def packets_sent():
        p = Gst.Promise.new()
        w.emit('get-stats', None, p)
        p.wait()
        sent = {}

        def each(_field, value, _):
            if isinstance(value, Gst.Structure) and value.get_name() == 'outbound-rtp':
                sent[str(value.get_value('ssrc'))] = value.get_value('packets-sent')
            return True
        reply = p.get_reply()
        if reply:
            reply.foreach(each, None)
        return sent

    def stop(why):
        if state['stopped']:
            return False
        state['stopped'] = True
        out(stopping=why)
        state['packets_sent'] = packets_sent()
        if state['resource']:  # WHIP teardown
            try:
                with urllib.request.urlopen(urllib.request.Request(state['resource'], method='DELETE'),
                                            timeout=5) as r:
                    out(delete=r.status)
            except urllib.error.HTTPError as e:
                out(delete=e.code)
            except Exception as e:
                out(delete_error=str(e))
        loop.quit()
        return False

    agent = w.get_property('ice-agent')
    ref_ice_agent(agent)
    agent.emit('add-local-ip-address', a.local_ip)
    for pad in w.sinkpads:  # one transceiver per linked sink pad
        pad.get_property('transceiver').set_property('direction', GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
    w.connect('on-negotiation-needed', on_negotiation_needed)
    w.connect('notify::ice-gathering-state', on_gathering)
    w.connect('notify::ice-connection-state', on_ice_state)
    bus = pipe.get_bus()
    bus.add_signal_watch()
    bus.connect('message', on_bus)
    if pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        raise RuntimeError('the pipeline does not start')
    # libnice may never report gathering complete; send what we have after 3 s.
    GLib.timeout_add(3000, lambda: (w.get_property('local-description') is not None and post_offer()) and False)
    GLib.timeout_add(int(a.seconds * 1000), stop, 'time is up')
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, stop, signal.Signals(sig).name)
    # Never hang: quit well after the planned end even if the main loop is stuck in a callback.
    GLib.timeout_add(int((a.seconds + 30) * 1000), lambda: fail('hard deadline passed') or False)
    loop.run()
    pipe.set_state(Gst.State.NULL)
    return state


def main():
    a = parse_args()
    try:
        Gst, GstWebRTC, GstSdp, GLib = load_gst()
    except RuntimeError as e:
        out(result={'ok': False, 'error': str(e)})
        return 3
    if a.check:
        out(result={'ok': True, 'gstreamer': Gst.version_string()})
        return 0
    state = publish(a, Gst, GstWebRTC, GstSdp, GLib)
    sent = state.get('packets_sent') or {}
    ok = state['connected'] and not state['error'] and any(v and v > 0 for v in sent.values())
    out(result={'ok': ok, 'connected': state['connected'], 'error': state['error'], 'packets_sent': sent})
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
