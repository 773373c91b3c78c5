#!/usr/bin/env python3
"""Drives Lantern's MCP endpoints with the official MCP Python SDK client: over streamable
HTTP (/mcp) and over stdio (lantern mcp), each lists the tools, quotes an order and places it.

Usage: mcp-client-check.py --url http://127.0.0.1:PORT --lantern PATH --token-http JWT --token-stdio JWT
Exits non-zero on the first thing that is not as expected."""
import argparse
import asyncio
import json
import sys
import uuid

import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {"find_stores", "get_menu", "my_cards", "claim_card", "quote_order", "place_order", "order_status", "cancel_order"}
CENTRE = {"lat": 31.2304, "lng": 121.4737}


def payload(result):
    """The tool's JSON answer from a CallToolResult."""
    if getattr(result, "structured_content", None):
        return result.structured_content
    return json.loads(result.content[0].text)


async def exercise(session, label):
    await session.initialize()
    tools = {tool.name for tool in (await session.list_tools()).tools}
    assert tools == EXPECTED_TOOLS, f"{label}: tools {sorted(tools)}"
    claimed = payload(await session.call_tool("claim_card", {}))
    card = claimed["card"]["id"]
    stores = payload(await session.call_tool("find_stores", {**CENTRE, "query": "taro", "limit": 1}))["stores"]
    assert stores, f"{label}: no store near the centre"
    order = {
        "merchant_id": stores[0]["id"],
        "items": [{"drink": "taro milk tea", "size": "large", "sugar": 70, "ice": "less", "toppings": [], "quantity": 1}],
        "card_id": card,
        "address": {**CENTRE, "text": "People's Square 1"},
    }
    quote = payload(await session.call_tool("quote_order", order))["quote"]
    assert quote["discount_fen"] > 0 and quote["total_fen"] == quote["subtotal_fen"] + quote["delivery_fee_fen"] - quote["discount_fen"], quote
    placed = payload(await session.call_tool("place_order", {**order, "idempotency_key": str(uuid.uuid4())}))["order"]
    assert placed["state"] == "placed" and placed["card_id"] == card, placed
    refused = await session.call_tool("place_order", {**order, "idempotency_key": str(uuid.uuid4())})
    assert refused.is_error and payload(refused)["error"]["code"] == "card_not_usable", payload(refused)
    status = payload(await session.call_tool("order_status", {"order_id": placed["id"]}))["order"]
    assert status["id"] == placed["id"]
    print(f"{label}: {len(tools)} tools; quoted {quote['total_fen']} fen after a {quote['discount_fen']} fen card; placed {placed['id']}; a second order with the same card refused")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--lantern", required=True)
    parser.add_argument("--token-http", required=True)
    parser.add_argument("--token-stdio", required=True)
    args = parser.parse_args()
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {args.token_http}"}, timeout=30) as http:
        async with streamable_http_client(args.url + "/mcp", http_client=http, terminate_on_close=False) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await exercise(session, "streamable HTTP")
    server = StdioServerParameters(command=args.lantern, args=["mcp", "--url", args.url, "--token", args.token_stdio])
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await exercise(session, "stdio")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as error:  # report, then fail
        print(f"MCP client check failed: {error!r}", file=sys.stderr)
        sys.exit(1)
