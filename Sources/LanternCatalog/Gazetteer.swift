/// A named place of the demo city (or a city beyond it), for reading a typed address.
public struct Place: Sendable, Equatable {
    /// What kind of place: a typed address names the most precise one it can.
    public enum Kind: String, Sendable {
        /// A city outside the demo city: named only to say it is out of reach.
        case city
        /// A district of the demo city.
        case district
        /// A road.
        case road
        /// A landmark: a square, a station, a campus, a mall.
        case landmark
    }

    /// Chinese name.
    public var chinese: String
    /// English name.
    public var english: String
    /// What it is.
    public var kind: Kind
    /// Where it is.
    public var point: GeoPoint
}

/// Where a typed address is, as far as the gazetteer can tell.
public enum Location: Sendable, Equatable {
    /// Inside the delivery area, at the place it names.
    case located(Place)
    /// A place the gazetteer knows, beyond the delivery area; the distance from the centre in metres.
    case outside(Place, metres: Double)
    /// Nothing the gazetteer knows.
    case unknown
}

/// The demo city's districts, roads and landmarks in Chinese and English (the demo city is laid
/// over central Shanghai), and a few cities beyond it, so that a typed address becomes a point.
///
/// A typed address is read by the most precise name in it ("南京东路200号" is Nanjing East Road,
/// "Jing'an Temple, Jing'an District" is the temple); house numbers are kept as text only.
public enum Gazetteer {
    /// How far from the centre of the demo city orders are delivered, in metres.
    public static let deliveryRadiusMetres: Double = 40_000

    /// Every place.
    public static let places: [Place] = [
        // Districts.
        Place(chinese: "黄浦区", english: "Huangpu District", kind: .district, point: GeoPoint(lat: 31.2317, lng: 121.4846)),
        Place(chinese: "静安区", english: "Jing'an District", kind: .district, point: GeoPoint(lat: 31.2290, lng: 121.4480)),
        Place(chinese: "徐汇区", english: "Xuhui District", kind: .district, point: GeoPoint(lat: 31.1885, lng: 121.4365)),
        Place(chinese: "长宁区", english: "Changning District", kind: .district, point: GeoPoint(lat: 31.2204, lng: 121.4244)),
        Place(chinese: "普陀区", english: "Putuo District", kind: .district, point: GeoPoint(lat: 31.2495, lng: 121.3975)),
        Place(chinese: "虹口区", english: "Hongkou District", kind: .district, point: GeoPoint(lat: 31.2646, lng: 121.5052)),
        Place(chinese: "杨浦区", english: "Yangpu District", kind: .district, point: GeoPoint(lat: 31.2596, lng: 121.5260)),
        Place(chinese: "浦东新区", english: "Pudong New Area", kind: .district, point: GeoPoint(lat: 31.2215, lng: 121.5447)),
        Place(chinese: "闵行区", english: "Minhang District", kind: .district, point: GeoPoint(lat: 31.1127, lng: 121.3817)),
        Place(chinese: "宝山区", english: "Baoshan District", kind: .district, point: GeoPoint(lat: 31.4050, lng: 121.4890)),
        // Roads.
        Place(chinese: "南京东路", english: "Nanjing East Road", kind: .road, point: GeoPoint(lat: 31.2375, lng: 121.4853)),
        Place(chinese: "南京西路", english: "Nanjing West Road", kind: .road, point: GeoPoint(lat: 31.2290, lng: 121.4590)),
        Place(chinese: "淮海中路", english: "Huaihai Middle Road", kind: .road, point: GeoPoint(lat: 31.2180, lng: 121.4600)),
        Place(chinese: "四川北路", english: "North Sichuan Road", kind: .road, point: GeoPoint(lat: 31.2580, lng: 121.4830)),
        Place(chinese: "西藏中路", english: "Middle Xizang Road", kind: .road, point: GeoPoint(lat: 31.2330, lng: 121.4770)),
        Place(chinese: "延安东路", english: "East Yan'an Road", kind: .road, point: GeoPoint(lat: 31.2300, lng: 121.4850)),
        Place(chinese: "福州路", english: "Fuzhou Road", kind: .road, point: GeoPoint(lat: 31.2340, lng: 121.4810)),
        Place(chinese: "陕西南路", english: "South Shaanxi Road", kind: .road, point: GeoPoint(lat: 31.2160, lng: 121.4590)),
        Place(chinese: "世纪大道", english: "Century Avenue", kind: .road, point: GeoPoint(lat: 31.2310, lng: 121.5230)),
        Place(chinese: "衡山路", english: "Hengshan Road", kind: .road, point: GeoPoint(lat: 31.2050, lng: 121.4450)),
        Place(chinese: "武康路", english: "Wukang Road", kind: .road, point: GeoPoint(lat: 31.2070, lng: 121.4370)),
        Place(chinese: "人民大道", english: "People's Avenue", kind: .road, point: GeoPoint(lat: 31.2310, lng: 121.4720)),
        // Landmarks.
        Place(chinese: "人民广场", english: "People's Square", kind: .landmark, point: GeoPoint(lat: 31.2304, lng: 121.4737)),
        Place(chinese: "外滩", english: "The Bund", kind: .landmark, point: GeoPoint(lat: 31.2400, lng: 121.4900)),
        Place(chinese: "豫园", english: "Yu Garden", kind: .landmark, point: GeoPoint(lat: 31.2272, lng: 121.4921)),
        Place(chinese: "新天地", english: "Xintiandi", kind: .landmark, point: GeoPoint(lat: 31.2196, lng: 121.4750)),
        Place(chinese: "静安寺", english: "Jing'an Temple", kind: .landmark, point: GeoPoint(lat: 31.2235, lng: 121.4453)),
        Place(chinese: "陆家嘴", english: "Lujiazui", kind: .landmark, point: GeoPoint(lat: 31.2397, lng: 121.4998)),
        Place(chinese: "东方明珠", english: "Oriental Pearl Tower", kind: .landmark, point: GeoPoint(lat: 31.2397, lng: 121.4997)),
        Place(chinese: "徐家汇", english: "Xujiahui", kind: .landmark, point: GeoPoint(lat: 31.1950, lng: 121.4370)),
        Place(chinese: "中山公园", english: "Zhongshan Park", kind: .landmark, point: GeoPoint(lat: 31.2206, lng: 121.4168)),
        Place(chinese: "世纪公园", english: "Century Park", kind: .landmark, point: GeoPoint(lat: 31.2153, lng: 121.5510)),
        Place(chinese: "上海火车站", english: "Shanghai Railway Station", kind: .landmark, point: GeoPoint(lat: 31.2495, lng: 121.4558)),
        Place(chinese: "虹桥火车站", english: "Hongqiao Railway Station", kind: .landmark, point: GeoPoint(lat: 31.1945, lng: 121.3200)),
        Place(chinese: "五角场", english: "Wujiaochang", kind: .landmark, point: GeoPoint(lat: 31.2990, lng: 121.5140)),
        Place(chinese: "复旦大学", english: "Fudan University", kind: .landmark, point: GeoPoint(lat: 31.2990, lng: 121.5010)),
        Place(chinese: "田子坊", english: "Tianzifang", kind: .landmark, point: GeoPoint(lat: 31.2087, lng: 121.4697)),
        Place(chinese: "张江", english: "Zhangjiang", kind: .landmark, point: GeoPoint(lat: 31.2040, lng: 121.5900)),
        Place(chinese: "中山公园站", english: "Zhongshan Park Station", kind: .landmark, point: GeoPoint(lat: 31.2190, lng: 121.4160)),
        Place(chinese: "上海博物馆", english: "Shanghai Museum", kind: .landmark, point: GeoPoint(lat: 31.2284, lng: 121.4755)),
        // Beyond the demo city: known, so that the answer can say it is out of reach.
        Place(chinese: "北京", english: "Beijing", kind: .city, point: GeoPoint(lat: 39.9042, lng: 116.4074)),
        Place(chinese: "天安门广场", english: "Tiananmen Square", kind: .landmark, point: GeoPoint(lat: 39.9055, lng: 116.3976)),
        Place(chinese: "杭州", english: "Hangzhou", kind: .city, point: GeoPoint(lat: 30.2741, lng: 120.1551)),
        Place(chinese: "西湖", english: "West Lake", kind: .landmark, point: GeoPoint(lat: 30.2590, lng: 120.1300)),
        Place(chinese: "苏州", english: "Suzhou", kind: .city, point: GeoPoint(lat: 31.2990, lng: 120.5853)),
        Place(chinese: "南京", english: "Nanjing", kind: .city, point: GeoPoint(lat: 32.0603, lng: 118.7969)),
        Place(chinese: "广州", english: "Guangzhou", kind: .city, point: GeoPoint(lat: 23.1291, lng: 113.2644)),
        Place(chinese: "深圳", english: "Shenzhen", kind: .city, point: GeoPoint(lat: 22.5431, lng: 114.0579)),
    ]

    /// Other ways people write some of the names, folded as `key` folds them.
    private static let aliases: [String: String] = [
        "eastnanjingroad": "Nanjing East Road", "nanjingdonglu": "Nanjing East Road", "westnanjingroad": "Nanjing West Road",
        "nanjingxilu": "Nanjing West Road", "peoplessquare": "People's Square", "peoplesquare": "People's Square",
        "thebund": "The Bund", "bund": "The Bund", "yuyuan": "Yu Garden", "yugarden": "Yu Garden", "jinganTemple": "Jing'an Temple",
        "jingantemple": "Jing'an Temple", "jingansi": "Jing'an Temple", "huaihairoad": "Huaihai Middle Road",
        "淮海路": "Huaihai Middle Road", "南京路步行街": "Nanjing East Road", "静安": "Jing'an District", "徐汇": "Xuhui District",
        "浦东": "Pudong New Area", "pudong": "Pudong New Area", "虹桥站": "Hongqiao Railway Station", "上海站": "Shanghai Railway Station",
        "天安门": "Tiananmen Square", "tiananmen": "Tiananmen Square", "北京市": "Beijing", "杭州市": "Hangzhou",
    ]

    /// Names folded to lookup keys, landmarks before roads before districts before cities, longest
    /// first within a kind, so the most precise name in an address wins.
    private static let index: [(key: String, place: Place)] = {
        var entries: [(String, Place)] = []
        let byEnglish = Dictionary(uniqueKeysWithValues: places.map { ($0.english, $0) })
        for place in places {
            entries.append((key(place.chinese), place))
            entries.append((key(place.english), place))
        }
        for (alias, english) in aliases { if let place = byEnglish[english] { entries.append((key(alias), place)) } }
        return entries.sorted { rank($0.1.kind) != rank($1.1.kind) ? rank($0.1.kind) < rank($1.1.kind) : $0.0.count > $1.0.count }
    }()

    private static func rank(_ kind: Place.Kind) -> Int {
        switch kind {
        case .landmark: 0
        case .road: 1
        case .district: 2
        case .city: 3
        }
    }

    /// Lower-cased letters, digits and Chinese characters only: "Jing'an  Temple" → "jingantemple".
    private static func key(_ text: String) -> String {
        String(String.UnicodeScalarView(text.lowercased().unicodeScalars.filter { scalar in
            (scalar.value >= 0x61 && scalar.value <= 0x7A) || (scalar.value >= 0x4E00 && scalar.value <= 0x9FFF)
        }))
    }

    /// Where a typed address is: the most precise place it names, inside or beyond the delivery area.
    public static func locate(_ address: String) -> Location {
        let folded = key(address)
        guard !folded.isEmpty, let entry = index.first(where: { folded.contains($0.key) }) else { return .unknown }
        let metres = DemoCity.centre.distance(to: entry.place.point)
        return metres <= deliveryRadiusMetres ? .located(entry.place) : .outside(entry.place, metres: metres)
    }

    /// The nearest landmark or road to `point`, to describe a device location in words.
    public static func nearest(to point: GeoPoint) -> Place? {
        places.filter { $0.kind == .landmark || $0.kind == .road }.min { $0.point.distance(to: point) < $1.point.distance(to: point) }
    }
}
