// Package jsonscan validates a JSON document and walks the members of a
// top-level object without reflection or allocation.
//
// The event parser needs two things encoding/json does not give cheaply: an
// exact RFC 8259 validity verdict and the raw bytes of each top-level member so
// that numbers can be checked as literals (an amount of 1.0 or 1e2 is not an
// integer literal, and int64 amounts must never pass through float64). It
// accepts exactly what encoding/json accepts, including its nesting limit; a
// differential fuzz test holds it to that. AppendString is the way back: a
// JSON string written exactly as encoding/json writes it.
package jsonscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Kind is the JSON type of a member value.
type Kind uint8

// The JSON value kinds.
const (
	String Kind = iota + 1
	Number
	Object
	Array
	True
	False
	Null
)

var kindNames = [...]string{"", "string", "number", "object", "array", "boolean", "boolean", "null"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// MaxDepth mirrors encoding/json's nesting limit so both agree on validity.
const MaxDepth = 10000

// ErrNotObject is returned for valid JSON whose top-level value is not an object.
var ErrNotObject = errors.New("JSON value is not an object")

// SyntaxError describes why a document is not valid JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.Msg, e.Offset) }

// Member is one top-level member of an object. Key is the raw key between the
// quotes (escapes not decoded, see KeyEscaped); Value is the raw value bytes.
type Member struct {
	Key        []byte
	KeyEscaped bool
	Value      []byte
	Kind       Kind
	// ValueEscaped is set for a string value with escapes: the scanner has
	// seen them already, so callers need not look for backslashes again.
	ValueEscaped bool
}

// ErrInvalidUTF8 is WalkUTF8's error for a JSON object that holds a
// string that is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("JSON string is not valid UTF-8")

type scanner struct {
	b         []byte
	pos       int
	checkUTF8 bool
	badUTF8   bool // checkUTF8 found a string that is not valid UTF-8
}

// Walk checks that b is exactly one JSON object (surrounded by optional
// whitespace) and calls fn for each top-level member in document order. It
// does not check UTF-8 (encoding/json does not either): see WalkUTF8.
func Walk(b []byte, fn func(m Member)) error {
	return walk(b, fn, false)
}

// WalkUTF8 is Walk for callers that also need b to be valid UTF-8, in one
// pass instead of two: when b is a valid JSON object, it returns
// ErrInvalidUTF8 (after calling fn for every member) if b is not valid
// UTF-8. Outside strings a valid document is ASCII, so only strings with
// bytes >= 0x80 are checked. Other errors are Walk's: a document that is
// not valid JSON may or may not be valid UTF-8.
func WalkUTF8(b []byte, fn func(m Member)) error {
	return walk(b, fn, true)
}

func walk(b []byte, fn func(m Member), checkUTF8 bool) error {
	s := scanner{b: b, checkUTF8: checkUTF8}
	s.skipWS()
	if s.pos >= len(b) {
		return s.err("unexpected end of input")
	}
	if b[s.pos] != '{' {
		// Tell "valid but not an object" apart from garbage.
		if _, err := s.value(0); err != nil {
			return err
		}
		s.skipWS()
		if s.pos != len(b) {
			return s.err("invalid character after top-level value")
		}
		return ErrNotObject
	}
	s.pos++
	var m Member
	s.skipWS()
	if s.pos < len(b) && b[s.pos] == '}' {
		s.pos++
		return s.end()
	}
	for {
		s.skipWS()
		if s.pos >= len(b) || b[s.pos] != '"' {
			return s.err("expected string key")
		}
		start := s.pos + 1
		escaped, err := s.str()
		if err != nil {
			return err
		}
		m.Key = b[start : s.pos-1]
		m.KeyEscaped = escaped
		s.skipWS()
		if s.pos >= len(b) || b[s.pos] != ':' {
			return s.err("expected ':' after object key")
		}
		s.pos++
		s.skipWS()
		vstart := s.pos
		m.ValueEscaped = false
		var kind Kind
		if s.pos < len(b) && b[s.pos] == '"' {
			// Strings, the usual member, are scanned here to learn
			// whether they hold escapes.
			kind = String
			m.ValueEscaped, err = s.str()
		} else {
			kind, err = s.value(1)
		}
		if err != nil {
			return err
		}
		m.Value = b[vstart:s.pos]
		m.Kind = kind
		fn(m)
		s.skipWS()
		if s.pos >= len(b) {
			return s.err("unexpected end of input in object")
		}
		switch b[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			if err := s.end(); err != nil {
				return err
			}
			if s.badUTF8 {
				return ErrInvalidUTF8
			}
			return nil
		default:
			return s.err("expected ',' or '}' in object")
		}
	}
}

// Valid reports whether b is one valid JSON value (syntax only, no UTF-8 check).
func Valid(b []byte) bool {
	s := scanner{b: b}
	s.skipWS()
	if _, err := s.value(0); err != nil {
		return false
	}
	return s.end() == nil
}

func (s *scanner) end() error {
	s.skipWS()
	if s.pos != len(s.b) {
		return s.err("invalid character after top-level value")
	}
	return nil
}

func (s *scanner) err(msg string) error { return &SyntaxError{Offset: s.pos, Msg: msg} }

func (s *scanner) skipWS() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans one value starting at s.pos (whitespace already skipped).
// Containers are scanned iteratively with an explicit depth count so hostile
// input cannot blow the stack.
func (s *scanner) value(depth int) (Kind, error) {
	if s.pos >= len(s.b) {
		return 0, s.err("unexpected end of input")
	}
	switch c := s.b[s.pos]; {
	case c == '"':
		s.pos++
		_, err := s.strBody()
		return String, err
	case c == '{' || c == '[':
		kind := Object
		if c == '[' {
			kind = Array
		}
		return kind, s.container(depth)
	case c == '-' || (c >= '0' && c <= '9'):
		return Number, s.number()
	case c == 't':
		return True, s.literal("true")
	case c == 'f':
		return False, s.literal("false")
	case c == 'n':
		return Null, s.literal("null")
	default:
		return 0, s.err(fmt.Sprintf("invalid character %q looking for beginning of value", c))
	}
}

// container scans a nested object or array starting at its opening bracket.
func (s *scanner) container(depth int) error {
	// stack holds the closing bracket expected at each level.
	var stackBuf [64]byte
	stack := stackBuf[:0]
	for {
		// At the start of this loop s.pos is at '{' or '['.
		open := s.b[s.pos]
		if depth+len(stack)+1 > MaxDepth {
			return s.err("exceeded max depth")
		}
		s.pos++
		if open == '{' {
			stack = append(stack, '}')
		} else {
			stack = append(stack, ']')
		}
		s.skipWS()
		if s.pos < len(s.b) && s.b[s.pos] == stack[len(stack)-1] {
			s.pos++
			stack = stack[:len(stack)-1]
			goto closed
		}
	element:
		if stack[len(stack)-1] == '}' {
			if s.pos >= len(s.b) || s.b[s.pos] != '"' {
				return s.err("expected string key")
			}
			if _, err := s.str(); err != nil {
				return err
			}
			s.skipWS()
			if s.pos >= len(s.b) || s.b[s.pos] != ':' {
				return s.err("expected ':' after object key")
			}
			s.pos++
			s.skipWS()
		}
		if s.pos < len(s.b) && (s.b[s.pos] == '{' || s.b[s.pos] == '[') {
			continue // descend
		}
		if _, err := s.value(depth + len(stack)); err != nil {
			return err
		}
	closed:
		// After a complete element (scalar or closed container) at the current level.
		for {
			if len(stack) == 0 {
				return nil
			}
			s.skipWS()
			if s.pos >= len(s.b) {
				return s.err("unexpected end of input")
			}
			c := s.b[s.pos]
			if c == ',' {
				s.pos++
				s.skipWS()
				goto element
			}
			if c != stack[len(stack)-1] {
				return s.err(fmt.Sprintf("invalid character %q in container", c))
			}
			s.pos++
			stack = stack[:len(stack)-1]
		}
	}
}

// str scans a string starting at its opening quote.
func (s *scanner) str() (escaped bool, err error) {
	s.pos++
	return s.strBody()
}

// strBody scans a string whose opening quote has been consumed.
func (s *scanner) strBody() (escaped bool, err error) {
	b := s.b
	start := s.pos
	high := false
	i := s.pos
	for {
		// Eight bytes at a time while none of them ends the string, starts
		// an escape, is a control character or is outside ASCII: strings
		// are most of an event's bytes.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if (hasZeroByte(w^quotes)|hasZeroByte(w^backslashes)|hasByteBelow(w, 0x20)|w)&highBits != 0 {
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			s.pos = i + 1
			// A multi-byte sequence cannot span a quote (its bytes are all
			// >= 0x80), so checking each string alone is checking them all.
			if high && s.checkUTF8 && !utf8.Valid(b[start:i]) {
				s.badUTF8 = true
			}
			return escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				s.pos = i
				return escaped, s.err("unexpected end of input in string escape")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					s.pos = len(b)
					return escaped, s.err("unexpected end of input in \\u escape")
				}
				for j := i + 1; j <= i+4; j++ {
					if !isHex(b[j]) {
						s.pos = j
						return escaped, s.err("invalid character in \\u escape")
					}
				}
				i += 4
			default:
				s.pos = i
				return escaped, s.err("invalid escape character")
			}
		case c < 0x20:
			s.pos = i
			return escaped, s.err("invalid control character in string")
		case c >= 0x80:
			high = true
		}
		i++
	}
	s.pos = len(b)
	return escaped, s.err("unexpected end of input in string")
}

// Word-at-a-time byte tests (Hacker's Delight, 6-1): each is non-zero in
// the high bit of some byte exactly when some byte of w is zero, or below
// n (n <= 0x80). Which bytes are flagged is not exact, which strBody does
// not need: it re-reads a flagged word byte by byte.
const (
	lowBits     = 0x0101010101010101
	highBits    = 0x8080808080808080
	quotes      = '"' * lowBits
	backslashes = '\\' * lowBits
)

func hasZeroByte(w uint64) uint64          { return (w - lowBits) &^ w & highBits }
func hasByteBelow(w uint64, n byte) uint64 { return (w - uint64(n)*lowBits) &^ w & highBits }

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) number() error {
	b := s.b
	i := s.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return s.err("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.pos = i
			return s.err("invalid number: digit expected after '.'")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.pos = i
			return s.err("invalid number: digit expected in exponent")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return nil
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.pos < len(lit) || string(s.b[s.pos:s.pos+len(lit)]) != lit {
		return s.err("invalid literal")
	}
	s.pos += len(lit)
	return nil
}
