"""A real UPnP control point (async-upnp-client, the library Home Assistant's DLNA
integrations use) against Tonearm's MediaServer, for the end-to-end tests.

  upnp_control.py browse LOCATION
      Reads the device at LOCATION as a DMS: subscribes to its events (GENA, with a notify
      server on 127.0.0.1), walks the tree, pages, reads metadata, searches, asks for the
      protocol info. Prints one JSON object of what it saw.

  upnp_control.py play SOURCE_IP EXPECT_NAME
      Discovers, by SSDP multicast from SOURCE_IP, the MediaServer whose friendly name is
      EXPECT_NAME and a MediaRenderer (gmediarender), browses Albums to the first track,
      pushes the track's MP3 <res> to the renderer (SetAVTransportURI, Play), seeks near
      the end, and waits for the renderer to stop. Prints one JSON object with the
      timeline it observed.
"""

import asyncio
import json
import sys
import time
from datetime import timedelta

from async_upnp_client.aiohttp import AiohttpNotifyServer, AiohttpRequester
from async_upnp_client.client_factory import UpnpFactory
from async_upnp_client.event_handler import UpnpEventHandler
from async_upnp_client.profiles.dlna import DmrDevice, DmsDevice
from async_upnp_client.search import async_search
from async_upnp_client.exceptions import UpnpActionResponseError, UpnpError

MEDIA_SERVER = "urn:schemas-upnp-org:device:MediaServer:1"
MEDIA_RENDERER = "urn:schemas-upnp-org:device:MediaRenderer:1"


def obj(o):
    """The fields of a DIDL object the tests look at."""
    out = {
        "id": o.id,
        "parent_id": o.parent_id,
        "title": getattr(o, "title", None),
        "class": o.upnp_class,
        "child_count": getattr(o, "child_count", None),
        "artist": getattr(o, "artist", None),
        "album": getattr(o, "album", None),
        "track": getattr(o, "original_track_number", None),
        "art": getattr(o, "album_art_uri", None),
        "res": [],
    }
    for r in getattr(o, "res", None) or []:
        out["res"].append({"protocol_info": r.protocol_info, "uri": r.uri, "duration": r.duration, "size": r.size})
    return out


async def browse(location):
    requester = AiohttpRequester()
    factory = UpnpFactory(requester)
    device = await factory.async_create_device(location)
    notify = AiohttpNotifyServer(requester, source=("127.0.0.1", 0))
    await notify.async_start_server()
    events = []
    dms = DmsDevice(device, notify.event_handler)
    dms.on_event = lambda service, variables: events.append({v.name: v.value for v in variables})
    report = {"friendly_name": device.friendly_name, "udn": device.udn, "device_type": device.device_type}
    try:
        await dms.async_subscribe_services(auto_resubscribe=False)
        report["subscribed"] = dms.is_subscribed
    except UpnpError as e:
        report["subscribed"] = False
        report["subscribe_error"] = str(e)
    await dms.async_update()
    report["search_caps"] = dms.search_capabilities
    report["system_update_id"] = dms.system_update_id
    report["protocol_info"] = await dms.async_get_protocol_info()
    root = await dms.async_browse_direct_children("0")
    report["root"] = [obj(o) for o in root.result]
    report["root_total"] = root.total_matches
    report["root_meta"] = obj(await dms.async_browse_metadata("0"))
    folders = {}
    for o in root.result:
        r = await dms.async_browse_direct_children(o.id)
        folders[o.id] = {"total": r.total_matches, "returned": r.number_returned, "items": [obj(x) for x in r.result]}
    report["folders"] = folders
    # Paging: the albums one at a time.
    pages = []
    total = folders["albums"]["total"]
    for i in range(total):
        r = await dms.async_browse_direct_children("albums", starting_index=i, requested_count=1)
        pages.append({"returned": r.number_returned, "total": r.total_matches, "ids": [x.id for x in r.result]})
    report["album_pages"] = pages
    # Down the tree: the first artist, its first album, its tracks.
    artist = folders["artists"]["items"][0]
    albums = await dms.async_browse_direct_children(artist["id"])
    report["artist_albums"] = [obj(o) for o in albums.result]
    tracks = await dms.async_browse_direct_children(albums.result[0].id)
    report["album_tracks"] = [obj(o) for o in tracks.result]
    report["album_meta"] = obj(await dms.async_browse_metadata(albums.result[0].id))
    first = tracks.result[0]
    report["track_meta"] = obj(await dms.async_browse_metadata(first.id))
    title = first.title
    word = title.split()[0]
    searches = {}
    for name, criteria in {
        "title": f'upnp:class derivedfrom "object.item.audioItem" and dc:title contains "{word}"',
        "artist": f'upnp:artist contains "{first.artist}"',
        "albums": 'upnp:class = "object.container.album.musicAlbum"',
        "all_tracks": 'upnp:class derivedfrom "object.item.audioItem" and @refID exists false',
        "nothing": 'dc:title contains "zzzzqqqq-no-such-title"',
    }.items():
        r = await dms.async_search_directory("0", criteria)
        searches[name] = {"criteria": criteria, "total": r.total_matches, "items": [obj(o) for o in r.result]}
    report["searches"] = searches
    report["searched_word"] = word
    errors = {}
    for name, call in {
        "no_such_object": lambda: dms.async_browse_metadata("album/999999"),
        "bad_object_id": lambda: dms.async_browse_metadata("nonsense"),
        "children_of_a_track": lambda: dms.async_browse_direct_children(first.id),
        "bad_criteria": lambda: dms.async_search_directory("0", "dc:title like"),
    }.items():
        try:
            await call()
            errors[name] = None
        except UpnpActionResponseError as e:
            errors[name] = e.error_code
    report["errors"] = errors
    await asyncio.sleep(0.5)
    report["events"] = events
    try:
        await dms.async_unsubscribe_services()
    except UpnpError:
        pass
    await notify.async_stop_server()
    return report


async def discover(source_ip, st, timeout=6):
    found = {}

    async def on_response(headers):
        found.setdefault(headers.get("LOCATION"), dict(headers))

    await async_search(on_response, timeout=timeout, search_target=st, source=(source_ip, 0))
    return found


async def play(source_ip, expect_name):
    requester = AiohttpRequester()
    factory = UpnpFactory(requester)
    report = {}
    servers = await discover(source_ip, MEDIA_SERVER)
    renderers = await discover(source_ip, MEDIA_RENDERER)
    report["servers"] = list(servers)
    report["renderers"] = list(renderers)
    dms_dev = None
    for location in servers:
        d = await factory.async_create_device(location)
        if d.friendly_name == expect_name:
            dms_dev = d
    report["server_found"] = dms_dev is not None
    if dms_dev is None or not renderers:
        return report
    dms = DmsDevice(dms_dev, None)
    albums = await dms.async_browse_direct_children("albums")
    tracks = await dms.async_browse_direct_children(albums.result[0].id)
    track = tracks.result[0]
    mp3 = next(r for r in track.res if r.protocol_info.startswith("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3"))
    report["track"] = obj(track)
    report["uri"] = mp3.uri
    dmr_dev = await factory.async_create_device(next(iter(renderers)))
    dmr = DmrDevice(dmr_dev, None)
    await dmr.async_update()
    report["renderer"] = dmr_dev.friendly_name
    metadata = await dmr.construct_play_media_metadata(mp3.uri, track.title, override_mime_type="audio/mpeg", override_upnp_class=track.upnp_class)
    await dmr.async_set_transport_uri(mp3.uri, track.title, metadata)
    await dmr.async_wait_for_can_play()
    await dmr.async_play()
    timeline = []
    start = time.monotonic()

    async def sample(label):
        await dmr.async_update(do_ping=False)
        timeline.append({"t": round(time.monotonic() - start, 2), "at": label, "state": dmr.transport_state.value if dmr.transport_state else None, "position": dmr.media_position, "duration": dmr.media_duration})

    # Playing, then a seek to 6 s before the end, then the end.
    for _ in range(40):
        await sample("start")
        if timeline[-1]["state"] == "PLAYING" and (timeline[-1]["position"] or 0) >= 1:
            break
        await asyncio.sleep(0.25)
    duration = float(mp3.duration.split(":")[-1]) + 60 * int(mp3.duration.split(":")[-2]) + 3600 * int(mp3.duration.split(":")[-3])
    target = max(2, int(duration) - 6)
    report["seek_to"] = target
    await dmr.async_seek_rel_time(timedelta(seconds=target))
    for _ in range(8):
        await asyncio.sleep(0.25)
        await sample("after_seek")
    deadline = time.monotonic() + duration + 20
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        await sample("to_end")
        if timeline[-1]["state"] in ("STOPPED", "NO_MEDIA_PRESENT"):
            break
    report["timeline"] = timeline
    report["elapsed"] = round(time.monotonic() - start, 2)
    return report


def main():
    mode = sys.argv[1]
    if mode == "browse":
        out = asyncio.run(browse(sys.argv[2]))
    elif mode == "play":
        out = asyncio.run(play(sys.argv[2], sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
