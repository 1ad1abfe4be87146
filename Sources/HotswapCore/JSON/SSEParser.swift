/// Server-sent events (the HTML standard's `text/event-stream`) from bytes as they arrive, however the reads
/// split them: the events of a stream do not depend on where its chunks end.
///
/// Lines end in CRLF, LF or CR; `data:` lines of one event are joined with LF; `event:` names it (default
/// "message"); `id:` is kept for the events after it (the last event id); comments (`:`) and `retry:` are
/// skipped; an event is dispatched at an empty line, and one left unfinished when the stream ends is dropped,
/// as the standard says. An event whose data grows past `maxEventBytes` is dropped whole and counted.
public struct SSEParser: Sendable {
    public struct Event: Sendable, Equatable {
        public var id: String?
        public var name: String
        public var data: [UInt8]

        public init(id: String?, name: String, data: [UInt8]) {
            self.id = id
            self.name = name
            self.data = data
        }
    }

    public let maxEventBytes: Int
    /// Events dropped for their size.
    public private(set) var oversized = 0

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var name = ""
    private var lastID: String?
    /// The chunk before ended in CR: an LF that starts this one belongs to that line end.
    private var afterCR = false
    /// The event being read is over the limit: its lines are skipped until it ends.
    private var skipping = false
    /// The line being read went over the limit: its end is not an empty line.
    private var lineCut = false

    public init(maxEventBytes: Int = 64 << 20) {
        self.maxEventBytes = maxEventBytes
    }

    /// Takes the next bytes of the stream; returns the events they complete.
    public mutating func feed(_ bytes: some Collection<UInt8>) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if afterCR {
                afterCR = false
                if byte == 0x0A { continue }
            }
            switch byte {
            case 0x0D:
                afterCR = true
                endLine(into: &events)
            case 0x0A:
                endLine(into: &events)
            default:
                if skipping {
                    lineCut = true
                    continue
                }
                line.append(byte)
                if line.count + data.count > maxEventBytes { overflow() }
            }
        }
        return events
    }

    private mutating func overflow() {
        skipping = true
        lineCut = true
        oversized += 1
        line = []
        data = []
        hasData = false
    }

    private mutating func endLine(into events: inout [Event]) {
        defer { line.removeAll(keepingCapacity: true) }
        if lineCut {
            lineCut = false
            return
        }
        if line.isEmpty {
            // An empty line ends the event.
            defer {
                data = []
                hasData = false
                name = ""
                skipping = false
            }
            guard hasData, !skipping else { return }
            if data.last == 0x0A { data.removeLast() }
            events.append(Event(id: lastID, name: name.isEmpty ? "message" : name, data: data))
            return
        }
        if skipping || line.first == 0x3A { return }  // over the limit, or a comment
        let colon = line.firstIndex(of: 0x3A)
        let field = colon.map { line[..<$0] } ?? line[...]
        var value = colon.map { line[line.index(after: $0)...] } ?? []
        if value.first == 0x20 { value = value.dropFirst() }
        switch String(decoding: field, as: UTF8.self) {
        case "data":
            data.append(contentsOf: value)
            data.append(0x0A)
            hasData = true
        case "event":
            name = String(decoding: value, as: UTF8.self)
        case "id":
            if !value.contains(0) { lastID = String(decoding: value, as: UTF8.self) }
        default:
            break  // `retry` and unknown fields
        }
    }
}
