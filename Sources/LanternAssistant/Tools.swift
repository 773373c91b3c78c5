import LanternCatalog

/// One tool the assistant (offline or LLM) and MCP clients can call, described by a JSON schema.
public struct ToolDefinition: Sendable {
    /// The tool's name, e.g. `place_order`.
    public var name: String
    /// What it does, for a model or an agent.
    public var description: String
    /// JSON schema of its arguments.
    public var inputSchema: JSONValue
}

/// What a tool call came to: a JSON result, or a refusal with a stable code.
public enum ToolResult: Sendable, Equatable {
    /// The tool's answer.
    case success(JSONValue)
    /// The tool refused; nothing changed.
    case failure(code: String, message: String)

    /// The answer as JSON: the result, or `{"error":{"code","message"}}`.
    public var json: JSONValue {
        switch self {
        case .success(let value): value
        case .failure(let code, let message): ["error": ["code": .string(code), "message": .string(message)]]
        }
    }
}

/// Runs tools as one authenticated user; every rule is enforced behind this, whatever the caller says.
public protocol ToolRunner: Sendable {
    /// Calls tool `name` with `arguments` (a JSON object).
    func call(_ name: String, _ arguments: JSONValue) async -> ToolResult
}

/// The tools, defined once for every engine and for MCP.
public enum AssistantTools {
    /// An `OrderLine` as the tools take it, its choices read from the catalog's own types.
    private static let item: JSONValue = [
        "type": "object",
        "properties": [
            "drink": ["type": "string", "description": "the drink's name from get_menu, English or Chinese, e.g. 'pearl milk tea' or '珍珠奶茶'"],
            "size": ["type": "string", "enum": .array(CupSize.allCases.map { .string($0.rawValue) })],
            "sugar": ["type": "integer", "enum": .array(sugarLevels.map { .int(Int64($0)) })],
            "ice": ["type": "string", "enum": .array(IceLevel.allCases.map { .string($0.rawValue) })],
            "toppings": ["type": "array", "items": ["type": "string", "enum": .array(Topping.allCases.map { .string($0.rawValue) })]],
            "quantity": ["type": "integer", "minimum": 1, "maximum": .int(Int64(Catalog.maximumCupsPerLine))],
        ],
        "required": ["drink"],
    ]

    private static let address: JSONValue = [
        "type": "object",
        "properties": [
            "lat": ["type": "number"], "lng": ["type": "number"],
            "text": ["type": "string", "description": "as the customer said it; alone, a road or landmark of the city is located"],
        ],
        "required": ["text"],
    ]

    private static let orderProperties: JSONValue = [
        "merchant_id": ["type": "string", "description": "a store id from find_stores; omit to let Lantern pick the soonest store"],
        "brand": ["type": "string"],
        "items": ["type": "array", "items": item, "minItems": 1],
        "card_id": ["type": "string", "description": "one of the user's active cards from my_cards"],
        "address": address,
    ]

    private static let placeProperties: JSONValue = {
        guard case .object(var members) = orderProperties else { return orderProperties }
        members.append(("idempotency_key", [
            "type": "string", "minLength": 1, "maxLength": 255,
            "description": "unique to this order; send the same key when retrying, and the order is returned instead of placed twice",
        ]))
        return .object(members)
    }()

    /// Every tool.
    public static let definitions: [ToolDefinition] = [
        ToolDefinition(
            name: "find_stores", description: "Open stores near a place, nearest first, with their predicted ready time.",
            inputSchema: [
                "type": "object",
                "properties": [
                    "lat": ["type": "number"], "lng": ["type": "number"],
                    "query": ["type": "string", "description": "brand or drink, English or Chinese"],
                    "limit": ["type": "integer", "minimum": 1, "maximum": 20],
                ],
                "required": ["lat", "lng"],
            ]),
        ToolDefinition(
            name: "get_menu", description: "A store's menu with medium and large prices in fen.",
            inputSchema: ["type": "object", "properties": ["merchant_id": ["type": "string"]], "required": ["merchant_id"]]),
        ToolDefinition(
            name: "my_cards", description: "The user's free-order cards and their states.",
            inputSchema: ["type": "object", "properties": [:]]),
        ToolDefinition(
            name: "claim_card", description: "Claim the user's welcome card in a campaign (default: the running one).",
            inputSchema: ["type": "object", "properties": ["campaign": ["type": "string"], "referral_code": ["type": "string"]]]),
        ToolDefinition(
            name: "quote_order", description: "Price an order from the store's menu, with the card's discount; places nothing.",
            inputSchema: ["type": "object", "properties": orderProperties, "required": ["items", "address"]]),
        ToolDefinition(
            name: "place_order",
            description: "Place an order for the user, paid with the card if given. Only after the user confirmed the quote.",
            inputSchema: ["type": "object", "properties": placeProperties, "required": ["items", "address", "idempotency_key"]]),
        ToolDefinition(
            name: "order_status", description: "One of the user's orders.",
            inputSchema: ["type": "object", "properties": ["order_id": ["type": "string"]], "required": ["order_id"]]),
        ToolDefinition(
            name: "cancel_order", description: "Cancel one of the user's orders before pickup; its card is returned.",
            inputSchema: ["type": "object", "properties": ["order_id": ["type": "string"]], "required": ["order_id"]]),
    ]
}
