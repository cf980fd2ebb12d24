package migrate

import (
	"slices"
	"strings"
	"testing"
)

func TestParseUnitFile(t *testing.T) {
	in := `# comment
; another
[Unit]
Description = A unit

[Service]
ExecStart=/usr/bin/python3 -m gunicorn \
    # a comment inside a continuation is skipped
    --bind 127.0.0.1:${PORT} \
    app:app
Environment=A=1
EnvironmentFile=
Environment=B=ends-in-an-escaped-backslash\\
`
	as, err := ParseUnitFile([]byte(in), "x.service")
	if err != nil {
		t.Fatal(err)
	}
	want := []Assignment{
		{"Unit", "Description", "A unit", "x.service", 4},
		// Each backslash becomes a space, next to the space before it, as
		// systemd does.
		{"Service", "ExecStart", "/usr/bin/python3 -m gunicorn  --bind 127.0.0.1:${PORT}  app:app", "x.service", 7},
		{"Service", "Environment", "A=1", "x.service", 11},
		{"Service", "EnvironmentFile", "", "x.service", 12},
		{"Service", "Environment", `B=ends-in-an-escaped-backslash\\`, "x.service", 13},
	}
	if !slices.Equal(as, want) {
		t.Fatalf("got  %+v\nwant %+v", as, want)
	}
	for _, bad := range []string{"Key=Value\n", "[Service]\nno equals sign\n", "[Service\nA=b\n"} {
		if _, err := ParseUnitFile([]byte(bad), "bad"); err == nil {
			t.Errorf("ParseUnitFile(%q) succeeded", bad)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`A=1 B=2`, []string{"A=1", "B=2"}},
		{`"A=b c" 'D=e f'`, []string{"A=b c", "D=e f"}},
		{`A="b c"d`, []string{"A=b cd"}},
		{`"A=x\"y\\z\n"`, []string{"A=x\"y\\z\n"}},
		{`'A=\x41'`, []string{"A=A"}},
		{`A=\s`, []string{"A= "}},
		{"  \tA=1\t ", []string{"A=1"}},
		{`A=100%%`, []string{"A=100%%"}}, // specifiers are Unspecify's job
	} {
		ws, err := SplitWords(tc.in)
		if err != nil {
			t.Errorf("SplitWords(%q): %v", tc.in, err)
			continue
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.Value)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("SplitWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{`"A=1`, `A='1`, `A=\q`, `A=1\`} {
		if _, err := SplitWords(bad); err == nil {
			t.Errorf("SplitWords(%q) succeeded", bad)
		}
	}
	ws, _ := SplitWords(`"A=b c" D=e`)
	if ws[0].Raw != `"A=b c"` || ws[1].Raw != "D=e" {
		t.Errorf("raw words %q %q", ws[0].Raw, ws[1].Raw)
	}
}

func TestUnspecify(t *testing.T) {
	spec := map[byte]string{'h': "/home/j", 'n': "x.service"}
	for in, want := range map[string]string{
		"plain": "plain", "100%%": "100%", "%h/.env": "/home/j/.env", "%n.%%": "x.service.%",
	} {
		if got, err := Unspecify(in, spec); err != nil || got != want {
			t.Errorf("Unspecify(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"%i", "trailing %"} {
		if _, err := Unspecify(bad, spec); err == nil {
			t.Errorf("Unspecify(%q) succeeded", bad)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{QuoteArg("/usr/local/bin/vault-exec"), "/usr/local/bin/vault-exec"},
		{QuoteArg("A=claude/x/y"), "A=claude/x/y"},
		{QuoteArg("/run/my vault/s.sock"), `"/run/my vault/s.sock"`},
		{QuoteArg("a$b%c"), `"a$$b%%c"`},
		{QuoteArg(""), `""`},
		{QuoteEnv("A", "b c"), `"A=b c"`},
		{QuoteEnv("A", "x\ny\t\"\\%$"), `"A=x\ny\t\"\\%%$"`},
		{QuoteEnv("A", "1"), "A=1"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

// FuzzQuoteEnv checks that what QuoteEnv writes, systemd's rules (as
// SplitWords and Unspecify implement them) read back as the same value.
func FuzzQuoteEnv(f *testing.F) {
	for _, s := range []string{"", "plain", "a b", "x\"y\\z", "100%", "line\nline", "\x01\x7f", "$HOME", "'q'", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.IndexByte(v, 0) >= 0 {
			return // cannot be in an environment at all
		}
		ws, err := SplitWords(QuoteEnv("NAME", v))
		if err != nil || len(ws) != 1 {
			t.Fatalf("QuoteEnv(%q) = %s: %d words, %v", v, QuoteEnv("NAME", v), len(ws), err)
		}
		got, err := Unspecify(ws[0].Value, nil)
		if err != nil || got != "NAME="+v {
			t.Fatalf("QuoteEnv(%q) = %s reads back as %q, %v", v, QuoteEnv("NAME", v), got, err)
		}
	})
}

func TestParseExecAndVarRefs(t *testing.T) {
	e := ParseExec("-:/usr/bin/x --a $A ${B} $$C ${D", "f:1")
	if e.Prefix != "-:" || e.Command != "/usr/bin/x --a $A ${B} $$C ${D" {
		t.Errorf("ParseExec: %+v", e)
	}
	if got := VarRefs(e.Command); !slices.Equal(got, []string{"A", "B"}) {
		t.Errorf("VarRefs = %q", got)
	}
}

// FuzzParseUnitFile checks that the unit parser never panics and that every
// assignment it returns lies in a section and has a key.
func FuzzParseUnitFile(f *testing.F) {
	for _, s := range []string{"[Service]\nExecStart=/bin/x \\\n  y\n", "[A]\nB=c\\\\\n", "x", "[Service]\nA=\"b c\" 'd'\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		as, err := ParseUnitFile([]byte(in), "fuzz")
		if err != nil {
			return
		}
		for _, a := range as {
			if a.Section == "" || a.Key == "" {
				t.Fatalf("assignment without a section or key: %+v", a)
			}
			_, _ = SplitWords(a.Value)
		}
	})
}
