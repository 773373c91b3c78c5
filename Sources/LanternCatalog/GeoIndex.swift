import Foundation

/// A point on the map, in degrees.
public struct GeoPoint: Sendable, Equatable, Codable {
    /// Latitude, degrees north.
    public var lat: Double
    /// Longitude, degrees east.
    public var lng: Double

    /// Creates a point.
    public init(lat: Double, lng: Double) {
        self.lat = lat
        self.lng = lng
    }

    /// Great-circle distance in metres (haversine).
    public func distance(to other: GeoPoint) -> Double {
        let radians = Double.pi / 180
        let dLat = (other.lat - lat) * radians
        let dLng = (other.lng - lng) * radians
        let a =
            sin(dLat / 2) * sin(dLat / 2) + cos(lat * radians) * cos(other.lat * radians) * sin(dLng / 2)
            * sin(dLng / 2)
        return 2 * GeoIndex.earthRadius * asin(min(1, a.squareRoot()))
    }
}

/// An in-memory index of many points (stores) for nearest-neighbour queries.
///
/// Points are bucketed into a uniform grid over their bounding box and stored sorted by cell
/// (a counting sort, so building is linear); coordinates are kept as `Float` to halve memory.
/// A query scans rings of cells outward from the query's cell, ranking candidates by the
/// equirectangular distance (exact enough at city scale, and free of trigonometry per point),
/// and stops once no unscanned cell can hold anything closer than the k-th best found. The
/// answers carry haversine metres.
public struct GeoIndex: Sendable {
    static let earthRadius = 6_371_008.8

    private let minLat: Double
    private let minLng: Double
    private let cellDegrees: Double
    private let rows: Int
    private let columns: Int
    /// `cellStart[c] ..< cellStart[c + 1]` are the slots of cell `c`.
    private let cellStart: [UInt32]
    /// Point id in each slot, sorted by cell.
    private let ids: [UInt32]
    private let lats: [Float]
    private let lngs: [Float]

    /// Number of points indexed.
    public var count: Int { ids.count }

    /// Builds the index; point `i` gets id `i`. About `pointsPerCell` points share a cell on average.
    public init(points: [GeoPoint], pointsPerCell: Double = 1) {
        precondition(points.count < Int(UInt32.max), "too many points for 32-bit ids")
        var minLat = 90.0
        var maxLat = -90.0
        var minLng = 180.0
        var maxLng = -180.0
        for point in points {
            minLat = min(minLat, point.lat)
            maxLat = max(maxLat, point.lat)
            minLng = min(minLng, point.lng)
            maxLng = max(maxLng, point.lng)
        }
        if points.isEmpty { (minLat, maxLat, minLng, maxLng) = (0, 0, 0, 0) }
        let area = max(1e-9, (maxLat - minLat) * (maxLng - minLng))
        let cells = max(1, Double(points.count) / pointsPerCell)
        let cellDegrees = max(1e-5, (area / cells).squareRoot())
        let rows = Int(((maxLat - minLat) / cellDegrees).rounded(.down)) + 1
        let columns = Int(((maxLng - minLng) / cellDegrees).rounded(.down)) + 1
        self.minLat = minLat
        self.minLng = minLng
        self.cellDegrees = cellDegrees
        self.rows = rows
        self.columns = columns

        let cellOf = points.map { point -> Int in
            let row = min(rows - 1, Int((point.lat - minLat) / cellDegrees))
            let column = min(columns - 1, Int((point.lng - minLng) / cellDegrees))
            return row * columns + column
        }
        var start = [UInt32](repeating: 0, count: rows * columns + 1)
        for cell in cellOf { start[cell + 1] += 1 }
        for cell in 0..<(rows * columns) { start[cell + 1] += start[cell] }
        var next = start
        var ids = [UInt32](repeating: 0, count: points.count)
        var lats = [Float](repeating: 0, count: points.count)
        var lngs = [Float](repeating: 0, count: points.count)
        for (id, cell) in cellOf.enumerated() {
            let slot = Int(next[cell])
            next[cell] += 1
            ids[slot] = UInt32(id)
            lats[slot] = Float(points[id].lat)
            lngs[slot] = Float(points[id].lng)
        }
        self.cellStart = start
        self.ids = ids
        self.lats = lats
        self.lngs = lngs
    }

    /// Bytes held by the index's arrays.
    public var memoryBytes: Int {
        cellStart.capacity * 4 + ids.capacity * 4 + lats.capacity * 4 + lngs.capacity * 4
    }

    /// The `k` points nearest to `point`, closest first, optionally within `radius` metres.
    public func nearest(to point: GeoPoint, k: Int, within radius: Double = .infinity) -> [(id: Int, meters: Double)] {
        guard k > 0, !ids.isEmpty else { return [] }
        let metersPerDegree = GeoIndex.earthRadius * .pi / 180
        let query = Projection(
            lat: point.lat, lng: point.lng, metersPerDegreeLat: metersPerDegree,
            metersPerDegreeLng: metersPerDegree * cos(point.lat * .pi / 180))
        var best: [(slot: Int, squared: Double)] = []
        best.reserveCapacity(k + 1)
        let row = Int(((point.lat - minLat) / cellDegrees).rounded(.down))
        let column = Int(((point.lng - minLng) / cellDegrees).rounded(.down))
        // A cell's narrowest side in metres near the query, for the ring stopping rule.
        let cellMeters = cellDegrees * min(query.metersPerDegreeLat, query.metersPerDegreeLng)
        let limit = radius.isFinite ? radius * radius : .infinity
        if radius.isFinite {
            // Cells more than `radius` away in latitude or longitude cannot hold an answer.
            let latCells = radius / metersPerDegree / cellDegrees
            if Double(row) + latCells < 0 || Double(row) - latCells > Double(rows - 1) { return [] }
            if query.metersPerDegreeLng > 1 {
                let lngCells = radius / query.metersPerDegreeLng / cellDegrees
                if Double(column) + lngCells < 0 || Double(column) - lngCells > Double(columns - 1) { return [] }
            }
        }
        // The ring that reaches the grid's farthest corner is the last with anything in it.
        let maxRing = max(abs(row), abs(rows - 1 - row), abs(column), abs(columns - 1 - column))
        var ring = 0
        while ring <= maxRing {
            // Nothing in this ring or beyond is closer than (ring - 1) whole cells.
            let floor = Double(max(0, ring - 1)) * cellMeters
            if floor * floor > limit { break }
            if best.count == k, floor * floor > best[k - 1].squared { break }
            // Only the part of the ring inside the grid is visited, so a query far outside it
            // (or near a pole, where rings are narrow) costs rings, not rings squared.
            let firstRow = max(0, row - ring)
            let lastRow = min(rows - 1, row + ring)
            if firstRow <= lastRow {
                for r in firstRow...lastRow {
                    if r == row - ring || r == row + ring {
                        let firstColumn = max(0, column - ring)
                        let lastColumn = min(columns - 1, column + ring)
                        guard firstColumn <= lastColumn else { continue }
                        for c in firstColumn...lastColumn {
                            scan(cell: r * columns + c, from: query, k: k, limit: limit, into: &best)
                        }
                    } else {
                        for c in [column - ring, column + ring] where c >= 0 && c < columns {
                            scan(cell: r * columns + c, from: query, k: k, limit: limit, into: &best)
                        }
                    }
                }
            }
            ring += 1
        }
        return best.map { candidate in
            let slot = candidate.slot
            return (
                Int(ids[slot]), point.distance(to: GeoPoint(lat: Double(lats[slot]), lng: Double(lngs[slot])))
            )
        }
    }

    /// The query point with its local metres-per-degree, for equirectangular distances.
    private struct Projection {
        var lat: Double
        var lng: Double
        var metersPerDegreeLat: Double
        var metersPerDegreeLng: Double
    }

    private func scan(
        cell: Int, from query: Projection, k: Int, limit: Double, into best: inout [(slot: Int, squared: Double)]
    ) {
        for slot in Int(cellStart[cell])..<Int(cellStart[cell + 1]) {
            let dy = (Double(lats[slot]) - query.lat) * query.metersPerDegreeLat
            let dx = (Double(lngs[slot]) - query.lng) * query.metersPerDegreeLng
            let squared = dx * dx + dy * dy
            guard squared <= limit, best.count < k || squared < best[best.count - 1].squared else { continue }
            var index = best.count
            while index > 0 && best[index - 1].squared > squared { index -= 1 }
            best.insert((slot, squared), at: index)
            if best.count > k { best.removeLast() }
        }
    }
}
