package migrate

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Assignment is one "Key=Value" line of a unit file or drop-in.
type Assignment struct {
	Section string
	Key     string
	Value   string // continuation lines joined with a space, as systemd does
	File    string
	Line    int
}

// Where names the assignment's file and line, for messages.
func (a Assignment) Where() string { return fmt.Sprintf("%s:%d", a.File, a.Line) }

// ParseUnitFile reads a unit file or drop-in the way systemd does: blank
// lines and lines starting with '#' or ';' are skipped, "[Section]" starts a
// section, and a line ending in an unescaped backslash continues on the next
// one: the backslash becomes a space, and comment lines in between are
// skipped. A line that is neither is an error rather than a warning: a unit
// we cannot read is not one we should rewrite.
func ParseUnitFile(b []byte, name string) ([]Assignment, error) {
	var out []Assignment
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	acc, start := "", 0 // a continued line so far, and where it started
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if acc == "" {
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			start = n
		} else if line != "" && (line[0] == '#' || line[0] == ';') {
			continue
		}
		line = acc + line
		if continued(line) {
			acc = line[:len(line)-1] + " "
			continue
		}
		acc = ""
		if line = strings.TrimSpace(line); line == "" {
			continue // a continuation of nothing
		}
		a, isSection, err := parseLine(line, section, name, start)
		if err != nil {
			return nil, err
		}
		if isSection {
			section = a.Section
			continue
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if acc = strings.TrimSpace(acc); acc != "" {
		a, isSection, err := parseLine(acc, section, name, start)
		if err != nil {
			return nil, err
		}
		if !isSection {
			out = append(out, a)
		}
	}
	return out, nil
}

// continued reports whether a line ends in an odd number of backslashes.
func continued(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// parseLine reads one whole (joined) line: a section header or an
// assignment.
func parseLine(line, section, name string, n int) (Assignment, bool, error) {
	if line[0] == '[' {
		if !strings.HasSuffix(line, "]") || len(line) < 3 {
			return Assignment{}, false, fmt.Errorf("%s:%d: bad section header", name, n)
		}
		return Assignment{Section: line[1 : len(line)-1]}, true, nil
	}
	key, val, ok := strings.Cut(line, "=")
	if !ok {
		return Assignment{}, false, fmt.Errorf("%s:%d: not a Key=Value line", name, n)
	}
	if section == "" {
		return Assignment{}, false, fmt.Errorf("%s:%d: assignment outside a section", name, n)
	}
	if key = strings.TrimSpace(key); key == "" {
		return Assignment{}, false, fmt.Errorf("%s:%d: assignment without a key", name, n)
	}
	return Assignment{Section: section, Key: key, Value: strings.TrimSpace(val), File: name, Line: n}, false, nil
}

// Word is one word of a systemd value split by SplitWords.
type Word struct {
	Value string // unquoted and unescaped
	Raw   string // as written, quotes and escapes included
}

// SplitWords splits a value such as Environment='A=b c' D="e\"f" into
// words the way systemd does (extract_first_word with unquoting and C
// escapes): words are separated by whitespace; single and double quotes
// group, anywhere in a word; backslash escapes work everywhere, inside
// quotes of either kind too. Specifiers ("%h") are left alone: see Unspecify.
func SplitWords(s string) ([]Word, error) {
	var out []Word
	i := 0
	for {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		start := i
		var val strings.Builder
		var quote byte
		for i < len(s) && (quote != 0 || !isBlank(s[i])) {
			c := s[i]
			switch {
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
				i++
			case quote != 0 && c == quote:
				quote = 0
				i++
			case c == '\\':
				r, n, err := unescape(s[i:])
				if err != nil {
					return nil, err
				}
				val.WriteString(r)
				i += n
			default:
				val.WriteByte(c)
				i++
			}
		}
		if quote != 0 {
			return nil, fmt.Errorf("unterminated %c quote", quote)
		}
		out = append(out, Word{Value: val.String(), Raw: s[start:i]})
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

var simpleEscapes = map[byte]string{'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t",
	'v': "\v", '\\': `\`, '"': `"`, '\'': "'", 's': " "}

// unescape decodes the C escape at the start of s and returns it and the
// number of bytes it took.
func unescape(s string) (string, int, error) {
	if len(s) < 2 {
		return "", 0, fmt.Errorf("trailing backslash")
	}
	if r, ok := simpleEscapes[s[1]]; ok {
		return r, 2, nil
	}
	switch s[1] {
	case 'x':
		if len(s) >= 4 {
			if v, err := strconv.ParseUint(s[2:4], 16, 8); err == nil && v != 0 {
				return string([]byte{byte(v)}), 4, nil
			}
		}
	case 'u', 'U':
		n := 4
		if s[1] == 'U' {
			n = 8
		}
		if len(s) >= 2+n {
			if v, err := strconv.ParseUint(s[2:2+n], 16, 32); err == nil && v != 0 && utf8.ValidRune(rune(v)) {
				return string(rune(v)), 2 + n, nil
			}
		}
	case '0', '1', '2', '3':
		if len(s) >= 4 {
			if v, err := strconv.ParseUint(s[1:4], 8, 8); err == nil && v != 0 {
				return string([]byte{byte(v)}), 4, nil
			}
		}
	}
	return "", 0, fmt.Errorf("unsupported escape \\%c", s[1])
}

// Unspecify resolves the specifiers in s that spec knows ("%%" always
// becomes "%") and refuses every other one: vault-migrate cannot know what
// it would be for the running unit.
func Unspecify(s string, spec map[byte]string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("ends in a lone %%")
		}
		i++
		switch v, ok := spec[s[i]]; {
		case s[i] == '%':
			b.WriteByte('%')
		case ok:
			b.WriteString(v)
		default:
			return "", fmt.Errorf("uses the specifier %%%c, which vault-migrate cannot resolve", s[i])
		}
	}
	return b.String(), nil
}

// QuoteEnv quotes "NAME=value" for an Environment= line: double quotes, C
// escapes for quotes, backslashes and control bytes, and "%%" for '%' (the
// value is specifier-expanded after unquoting).
func QuoteEnv(name, value string) string {
	return quoteWord(name+"="+value, false)
}

// QuoteArg quotes one argument of an ExecStart= line: bare when it is
// plainly safe, else double-quoted; '%' becomes "%%" and '$' becomes "$$"
// (ExecStart= expands both).
func QuoteArg(s string) string {
	return quoteWord(s, true)
}

func quoteWord(s string, exec bool) string {
	safe := s != ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-./:=@+,", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		case c == '%':
			b.WriteString("%%")
		case c == '$' && exec:
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ExecLine is one ExecStart= value: its prefix characters and the command.
type ExecLine struct {
	Prefix  string // any of "@-:+!" (and "!!"), as written
	Command string // the rest, exactly as written
	Where   string
}

// ParseExec splits an ExecStart= value into its prefix and command.
func ParseExec(v, where string) ExecLine {
	i := 0
	for i < len(v) && strings.IndexByte("@-:+!|", v[i]) >= 0 {
		i++
	}
	return ExecLine{Prefix: v[:i], Command: strings.TrimSpace(v[i:]), Where: where}
}

// VarRefs returns the names of the $NAME and ${NAME} references in an
// ExecStart= command, which systemd expands from the unit's environment.
func VarRefs(cmd string) []string {
	var out []string
	for i := 0; i < len(cmd); i++ {
		if cmd[i] != '$' || i+1 >= len(cmd) {
			continue
		}
		if cmd[i+1] == '$' {
			i++
			continue
		}
		j := i + 1
		brace := cmd[j] == '{'
		if brace {
			j++
		}
		k := j
		for k < len(cmd) && (cmd[k] == '_' || cmd[k] >= 'A' && cmd[k] <= 'Z' || cmd[k] >= 'a' && cmd[k] <= 'z' || k > j && cmd[k] >= '0' && cmd[k] <= '9') {
			k++
		}
		if k > j && (!brace || k < len(cmd) && cmd[k] == '}') {
			out = append(out, cmd[j:k])
		}
		i = k - 1
	}
	return out
}
