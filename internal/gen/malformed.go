package gen

import "strings"

// Ways a Malformed message is broken (Message.Defect). The first group is not
// a JSON object at all (contract §5 invalid_json); DefectSchemaVersion2 is an
// unsupported schema; the rest are well-formed JSON objects that violate the
// v1 schema.
const (
	DefectTruncatedJSON   = "truncated_json"
	DefectTrailingGarbage = "trailing_garbage"
	DefectInvalidUTF8     = "invalid_utf8"
	DefectJSONArray       = "json_array"
	DefectJSONString      = "json_string"
	DefectJSONNumber      = "json_number"
	DefectJSONLiteral     = "json_literal" // null, true, false
	DefectEmpty           = "empty"        // empty or whitespace only
	DefectRandomBytes     = "random_bytes"

	DefectSchemaVersion2 = "schema_version_2"

	DefectSchemaVersionNotInt = "schema_version_not_int" // "1", "v1", true
	DefectMissingField        = "missing_field"
	DefectEmptyID             = "empty_id" // empty user_id or session_id
	DefectBadUUID             = "bad_uuid"
	DefectBadTimestamp        = "bad_timestamp"
	DefectUnknownEventType    = "unknown_event_type"
	DefectFloatAmount         = "float_amount"
	DefectNonPositiveAmount   = "non_positive_amount"
	DefectStringAmount        = "string_amount"
	DefectMissingOrderField   = "missing_order_field"
	DefectLowercaseCurrency   = "lowercase_currency"
	DefectMissingProductID    = "missing_product_id"
)

var defects = []string{
	DefectTruncatedJSON, DefectTrailingGarbage, DefectInvalidUTF8,
	DefectJSONArray, DefectJSONString, DefectJSONNumber, DefectJSONLiteral,
	DefectEmpty, DefectRandomBytes,
	DefectSchemaVersion2,
	DefectSchemaVersionNotInt, DefectMissingField, DefectEmptyID,
	DefectBadUUID, DefectBadTimestamp, DefectUnknownEventType,
	DefectFloatAmount, DefectNonPositiveAmount, DefectStringAmount,
	DefectMissingOrderField, DefectLowercaseCurrency, DefectMissingProductID,
}

// Defects lists every defect a Malformed message can have; each is drawn
// with equal probability.
func Defects() []string { return append([]string(nil), defects...) }

func (g *Generator) pick(options []string) string {
	return options[g.rng.IntN(len(options))]
}

// baseEvent builds a valid event of the given type for a random running
// session without advancing it: broken and oversized messages are noise on
// top of the funnel, not steps of it.
func (g *Generator) baseEvent(typ evType) *event {
	ev := &g.ev
	*ev = event{}
	s := &g.sessions[g.rng.IntN(len(g.sessions))]
	u := g.identity(ev, s)
	ev.typ = typ
	ev.idHi, ev.idLo = newUUID(g.rng.Uint64(), g.rng.Uint64())
	ev.timeMs = floorDiv(g.now, nsPerMs)
	switch typ {
	case productView:
		p := &g.w.products[g.popularProduct()]
		ev.productID, ev.page = p.id, p.page
	case orderPlaced:
		p := &g.w.products[g.popularProduct()]
		ev.orderID = "ord-" + uuidString(newUUID(g.rng.Uint64(), g.rng.Uint64()))
		ev.amount = p.price[u.currency]
		ev.currency = currencies[u.currency].code
		ev.page = "/checkout/confirmation"
	default:
		ev.page = g.w.catPage[g.rng.IntN(len(g.w.catPage))]
	}
	return ev
}

func (g *Generator) encodeScratch(ev *event) []byte {
	g.scratch = g.enc.appendEvent(g.scratch[:0], ev)
	return g.scratch
}

// malformed builds a deliberately broken message, keyed by a real user.
func (g *Generator) malformed() Message {
	defect := defects[g.rng.IntN(len(defects))]
	typ := pageView
	switch defect {
	case DefectFloatAmount, DefectNonPositiveAmount, DefectStringAmount,
		DefectMissingOrderField, DefectLowercaseCurrency:
		typ = orderPlaced
	case DefectMissingProductID:
		typ = productView
	}
	ev := g.baseEvent(typ)
	hasTime := true
	var v []byte

	switch defect {
	case DefectTruncatedJSON:
		// Any proper prefix of an object lacks its closing brace.
		full := g.encodeScratch(ev)
		v = full[:1+g.rng.IntN(len(full)-1)]
		hasTime = false
	case DefectTrailingGarbage:
		v = append(g.encodeScratch(ev), g.pick([]string{"}", " garbage", `{"again":true}`, ",", "\x00"})...)
		g.scratch = v
		hasTime = false
	case DefectInvalidUTF8:
		// A Latin-1 é, a lone continuation pair, a truncated 2-byte rune.
		ev.page = g.pick([]string{"/search?q=caf\xe9", "/p/\xff\xfe", "/search?q=\xc3"})
		v = g.encodeScratch(ev)
		hasTime = false
	case DefectJSONArray:
		v = append([]byte{'['}, g.encodeScratch(ev)...)
		v = append(v, ']')
		hasTime = false
	case DefectJSONString:
		// A double-encoded event: a JSON string holding the object.
		v = appendString(nil, string(g.encodeScratch(ev)))
		hasTime = false
	case DefectJSONNumber:
		v = []byte(g.pick([]string{"42", "-0", "1.5e3"}))
		hasTime = false
	case DefectJSONLiteral:
		v = []byte(g.pick([]string{"null", "true", "false"}))
		hasTime = false
	case DefectEmpty:
		v = []byte(g.pick([]string{"", " ", "\t \r"}))
		hasTime = false
	case DefectRandomBytes:
		v = make([]byte, 1+g.rng.IntN(64))
		for i := range v {
			v[i] = byte(g.rng.Uint32())
			if v[i] == '\n' || v[i] == '\r' {
				v[i] = 0
			}
		}
		// A leading UTF-8 continuation byte makes sure the noise can never
		// happen to be valid JSON.
		v[0] = 0x80 | v[0]&0x3f
		hasTime = false

	case DefectSchemaVersion2:
		ev.schemaRaw = g.pick([]string{"2", "3"})
	case DefectSchemaVersionNotInt:
		ev.schemaRaw = g.pick([]string{`"1"`, `"v1"`, `true`})
	case DefectMissingField:
		bit := []uint8{omitSchemaVersion, omitEventID, omitEventType, omitEventTime, omitUserID, omitSessionID}[g.rng.IntN(6)]
		ev.omit = bit
		hasTime = bit != omitEventTime
	case DefectEmptyID:
		if g.rng.IntN(2) == 0 {
			ev.userID = ""
		} else {
			ev.sessionID = ""
		}
	case DefectBadUUID:
		ev.idRaw = g.pick([]string{
			`"not-a-uuid"`,
			`"123e4567-e89b-12d3-a456-42661417400"`,    // one digit short
			`"123e4567e89b12d3a456426614174000"`,       // no dashes
			`"g23e4567-e89b-12d3-a456-426614174000"`,   // not hex
			`"{123e4567-e89b-12d3-a456-426614174000}"`, // braces
			`""`,
			`42`,
		})
	case DefectBadTimestamp:
		ev.timeRaw = g.pick([]string{
			`"2026-13-01T00:00:00.000Z"`,
			`"2026-01-01 00:00:00"`,
			`"2026-01-01T00:00:00.000"`, // no offset
			`"yesterday"`,
			`""`,
			`1767225600000`,
			`null`,
		})
		hasTime = false
	case DefectUnknownEventType:
		ev.typeRaw = g.pick([]string{`"wishlist_add"`, `"PAGE_VIEW"`, `""`, `7`, `null`})
	case DefectFloatAmount:
		ev.amountRaw = g.pick([]string{"1999.5", "12.0", "1e3"})
	case DefectNonPositiveAmount:
		ev.amountRaw = g.pick([]string{"0", "-500", "-1"})
	case DefectStringAmount:
		ev.amountRaw = g.pick([]string{`"1999"`, `"19.99"`, `null`})
	case DefectMissingOrderField:
		switch g.rng.IntN(3) {
		case 0:
			ev.omit = omitOrderID
		case 1:
			ev.omit = omitAmount
		default:
			ev.currency = ""
		}
	case DefectLowercaseCurrency:
		ev.currency = strings.ToLower(ev.currency)
	case DefectMissingProductID:
		ev.productID = ""
	}
	if v == nil {
		v = g.encodeScratch(ev)
	}
	return g.message(Malformed, defect, g.w.users[ev.user].key, v, ev.timeMs, hasTime)
}

// oversized builds a valid page_view padded, through a long search page, to
// MaxEventBytes+1 .. MaxEventBytes+1000 bytes.
func (g *Generator) oversized() Message {
	target := g.cfg.MaxEventBytes + 1 + g.rng.IntN(1000)
	ev := g.baseEvent(pageView)
	const prefix = "/search?q="
	ev.page = prefix
	base := len(g.encodeScratch(ev))
	// The padding is plain ASCII, so each byte of it adds exactly one byte
	// of JSON.
	const filler = "lorem ipsum dolor sit amet consectetur adipiscing elit "
	pad := target - base
	ev.page = prefix + strings.Repeat(filler, pad/len(filler)+1)[:pad]
	return g.message(Oversized, "", g.w.users[ev.user].key, g.encodeScratch(ev), ev.timeMs, true)
}
