"""Drives the published GeoReport v2 client `georeport` (PyPI, 0.3.1), unmodified, against a running
sharpeyes, and reads the XML answers with Python's standard XML parser (xml.etree.ElementTree).

Usage: georeport_client.py BASE_URL REQUEST_ID
Prints one JSON document of what the client returned, for tests/open311_clients.rs to check.
"""

import json
import sys
import urllib.request
import xml.etree.ElementTree as ElementTree

from georeport import GeoReport


def element_names(url):
    """The root element, and the element names of its first child, of the XML at `url`."""
    with urllib.request.urlopen(url) as response:
        content_type = response.headers.get("Content-Type")
        root = ElementTree.fromstring(response.read())
    first = list(root)[0] if len(root) else None
    return {
        "content_type": content_type,
        "root": root.tag,
        "children": sorted({child.tag for child in root}),
        "first": sorted(child.tag for child in first) if first is not None else [],
    }


def as_list(answer):
    """xmltodict reads a list of one as the item itself: a list either way."""
    return answer if isinstance(answer, list) else [answer]


def main():
    base, request_id = sys.argv[1], sys.argv[2]
    root = f"{base}/open311/v2"
    out = {}
    for output_format in ("json", "xml"):
        client = GeoReport(root, output_format=output_format)
        out[output_format] = {
            "services": client.get_service_list(),
            "parking_definition": client.get_service_definition("illegal_parking"),
            "litter_definition": client.get_service_definition("litter"),
            "all": as_list(client.get_service_requests(status="open,closed")),
            "open": as_list(client.get_service_requests(status="open")),
            "two_services": as_list(client.get_service_requests(service_code="illegal_parking,manhole_cover")),
            "by_ids": as_list(client.get_service_requests(service_request_id=request_id)),
            "one": client.get_service_request(request_id),
        }
    # An empty list cannot go through the client's XML reading (xmltodict gives None for an empty
    # element), so the empty window is asked in JSON only.
    out["json"]["window"] = GeoReport(root).get_service_requests(
        start_date="2000-01-01T00:00:00Z", end_date="2000-02-01T00:00:00Z"
    )
    out["xml_elements"] = {
        name: element_names(f"{root}/{path}")
        for name, path in [
            ("discovery", "discovery.xml"),
            ("services", "services.xml"),
            ("definition", "services/illegal_parking.xml"),
            ("requests", "requests.xml"),
            ("request", f"requests/{request_id}.xml"),
            ("token", f"tokens/{request_id}.xml"),
        ]
    }
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
