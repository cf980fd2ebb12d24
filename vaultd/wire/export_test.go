package wire

// Test hooks for the fast-path differential fuzzer.
var (
	ParseFastForTest      = parseFast
	ParseStrictForTest    = parseStrict
	PathParamsFastForTest = pathParamsFast
)
