package vaultd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/policy"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// call is the state of one request while it is handled.
type call struct {
	c      *conn
	id     json.RawMessage
	who    principal
	rec    sqlite.Record
	secret bool // the answer carries a value
}

// handle decodes and serves one request line, appends its answer to c.out
// and queues its audit row.
func (c *conn) handle(line []byte) {
	s := c.s
	s.requests.Add(1)
	start := s.now()
	cl := call{c: c, rec: sqlite.Record{Time: start}}

	var result []byte
	var werr *wire.Error
	outStart := len(c.out)

	req, id, perr := wire.ParseRequest(line)
	cl.id = id
	cl.rec.RequestID = requestID(id)
	if perr != nil {
		werr = perr
	} else {
		cl.rec.Method = knownMethod(req.Method)
		result, werr = cl.dispatch(req)
	}

	switch {
	case werr != nil:
		c.out = wire.AppendError(c.out, cl.id, werr)
		cl.rec.Code = string(werr.Code)
	case result != nil:
		c.out = wire.AppendResult(c.out, cl.id, result)
	}
	// (A get that succeeded has already appended its own answer.)
	cl.rec.Outcome = outcomeOf(wire.Code(cl.rec.Code))
	cl.rec.Duration = s.now().Sub(start)
	s.reqMetrics.Observe(cl.rec.Method, cl.rec.Outcome, cl.rec.Duration)
	c.pending = append(c.pending, pending{start: outStart, end: len(c.out), secret: cl.secret && werr == nil, id: cl.id})
	s.audit(c, cl.rec)
}

// dispatch runs a method. It returns the encoded result object, or nil when
// the method appended its whole answer itself (get).
func (cl *call) dispatch(req wire.Request) ([]byte, *wire.Error) {
	if req.Method == wire.MethodHealth {
		if err := wire.DecodeParams(req.Params, &struct{}{}); err != nil {
			return nil, err
		}
		return mustJSON(wire.HealthResult{Status: "ok", Protocol: wire.ProtocolVersion, Version: Version}), nil
	}
	if cl.rec.Method == "" {
		return nil, wire.Errorf(wire.CodeUnknownMethod, "unknown method; see docs/PROTOCOL.md for the list")
	}
	who, werr, detail := cl.c.s.authenticate(cl.c, req.Auth)
	cl.who = who
	cl.rec.TokenID, cl.rec.Client = who.tokenID, who.name
	if werr != nil {
		cl.rec.Detail = detail
		return nil, werr
	}
	// A change that could not be audited must not happen: refuse changes
	// while the audit log is known to be failing. (get refuses too, after
	// its grant check.)
	if changes(req.Method) && !cl.c.s.db.AuditHealthy() {
		return nil, errAuditDown
	}
	switch req.Method {
	case wire.MethodGet:
		return nil, cl.get(req.Params)
	case wire.MethodSet:
		return cl.set(req.Params)
	case wire.MethodDelete:
		return cl.delete(req.Params)
	case wire.MethodList:
		return cl.list(req.Params)
	case wire.MethodTokenCreate:
		return cl.tokenCreate(req.Params)
	case wire.MethodTokenList:
		return cl.tokenList(req.Params)
	case wire.MethodTokenRevoke:
		return cl.tokenRevoke(req.Params)
	case wire.MethodAuditQuery:
		return cl.auditQuery(req.Params)
	case wire.MethodStatus:
		return cl.status(req.Params)
	case wire.MethodWatch:
		return cl.watch(req.Params)
	case wire.MethodRotationBegin:
		return cl.rotationBegin(req.Params)
	case wire.MethodRotationMark:
		return cl.rotationMark(req.Params)
	case wire.MethodRotationEnd:
		return cl.rotationEnd(req.Params)
	case wire.MethodRotationStatus:
		return cl.rotationStatus(req.Params)
	case wire.MethodRotationClear:
		return cl.rotationClear(req.Params)
	}
	return nil, wire.Errorf(wire.CodeInternal, "method not wired")
}

// changes reports whether a method changes the store or the state.
func changes(m string) bool {
	switch m {
	case wire.MethodSet, wire.MethodDelete, wire.MethodTokenCreate, wire.MethodTokenRevoke,
		wire.MethodRotationBegin, wire.MethodRotationMark, wire.MethodRotationEnd, wire.MethodRotationClear:
		return true
	}
	return false
}

// knownMethod returns the method name if it is one of ours, else "": the
// audit log records only names we chose, never arbitrary input.
func knownMethod(m string) string {
	switch m {
	case wire.MethodHealth, wire.MethodGet, wire.MethodSet, wire.MethodDelete, wire.MethodList,
		wire.MethodTokenCreate, wire.MethodTokenList, wire.MethodTokenRevoke, wire.MethodAuditQuery, wire.MethodStatus,
		wire.MethodWatch, wire.MethodRotationBegin, wire.MethodRotationMark, wire.MethodRotationEnd,
		wire.MethodRotationStatus, wire.MethodRotationClear:
		return m
	}
	return ""
}

// requestID renders an id for the audit log: a string id without its
// quotes, a number as written.
func requestID(id json.RawMessage) string {
	if len(id) == 0 {
		return ""
	}
	if id[0] == '"' {
		if bytes.IndexByte(id, '\\') < 0 {
			return string(id[1 : len(id)-1])
		}
		var s string
		if json.Unmarshal(id, &s) == nil {
			return s
		}
	}
	return string(id)
}

// path validates a path parameter and checks the caller's grants. An
// invalid path is refused before the grants are looked at, and a path
// outside the grants is refused whether or not it exists.
func (cl *call) path(raw string, level policy.Level) (vpath.Path, *wire.Error) {
	p, err := vpath.Parse(raw)
	if err != nil {
		return "", wire.Errorf(wire.CodeInvalidPath, "%s", err.Error())
	}
	cl.rec.Path = string(p)
	if !policy.Allows(cl.who.grants, p, level) {
		return "", wire.Errorf(wire.CodePermissionDenied, "%s may not %s this path", cl.who.describe(), verb(level))
	}
	return p, nil
}

func (p principal) describe() string {
	if p.tokenID == "" {
		return "the owner"
	}
	return "token " + p.name
}

func verb(l policy.Level) string {
	switch l {
	case policy.Read:
		return "read"
	case policy.Write:
		return "write"
	}
	return "administer"
}

func (cl *call) get(params json.RawMessage) *wire.Error {
	var p wire.PathParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return err
	}
	path, werr := cl.path(p.Path, policy.Read)
	if werr != nil {
		return werr
	}
	s, c := cl.c.s, cl.c
	// Refuse before decrypting when the audit log is known to be down.
	if !s.db.AuditHealthy() {
		return errAuditDown
	}
	cl.secret = true
	if s.cache.Get(path, func(v []byte) { c.out = wire.AppendValueResult(c.out, cl.id, v) }) {
		return nil
	}
	v, err := s.fetch(path)
	if err != nil {
		return asWire(err)
	}
	c.out = wire.AppendValueResult(c.out, cl.id, v)
	clear(v)
	return nil
}

func (cl *call) set(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.SetParams
	werr := wire.DecodeParams(params, &p)
	defer p.Value.Wipe()
	defer p.ValueB64.Wipe()
	if werr != nil {
		return nil, werr
	}
	if (p.Value == nil) == (p.ValueB64 == nil) {
		return nil, wire.Errorf(wire.CodeBadRequest, `set needs exactly one of "value" and "value_b64"`)
	}
	path, werr := cl.path(p.Path, policy.Write)
	if werr != nil {
		return nil, werr
	}
	s := cl.c.s
	value := []byte(p.Value)
	if p.ValueB64 != nil {
		value = p.ValueB64
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeOpTimeout)
	defer cancel()
	s.cache.Invalidate(path)
	err := s.backend.Set(ctx, path, value)
	s.cache.Invalidate(path) // a read that raced the write must not keep the old value
	if err != nil {
		return nil, asWire(mapBackendErr(err))
	}
	s.publish(path)
	return []byte("{}"), nil
}

func (cl *call) delete(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.PathParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	path, werr := cl.path(p.Path, policy.Write)
	if werr != nil {
		return nil, werr
	}
	s := cl.c.s
	ctx, cancel := context.WithTimeout(context.Background(), storeOpTimeout)
	defer cancel()
	s.cache.Invalidate(path)
	err := s.backend.Delete(ctx, path)
	s.cache.Invalidate(path)
	if err != nil {
		return nil, asWire(mapBackendErr(err))
	}
	s.publish(path)
	return []byte("{}"), nil
}

func (cl *call) list(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.ListParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	prefix, err := vpath.ParsePrefix(p.Prefix)
	if err != nil {
		return nil, wire.Errorf(wire.CodeInvalidPath, "%s", err.Error())
	}
	cl.rec.Path = prefix
	s := cl.c.s
	ctx, cancel := context.WithTimeout(context.Background(), storeOpTimeout)
	defer cancel()
	all, lerr := s.backend.List(ctx, prefix)
	if lerr != nil {
		return nil, asWire(mapBackendErr(lerr))
	}
	res := wire.ListResult{Paths: []string{}}
	for _, path := range all {
		if policy.Allows(cl.who.grants, path, policy.Read) {
			res.Paths = append(res.Paths, string(path))
		}
	}
	return mustJSON(res), nil
}

// storeOpTimeout bounds a store operation as a whole. The store limits each
// gpg run to gpg_timeout itself; a write may also queue behind others for
// the store's lock, which is not the caller's fault.
const storeOpTimeout = 5 * time.Minute

// asWire extracts the *wire.Error from err.
func asWire(err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	return wire.Errorf(wire.CodeInternal, "internal error")
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are encoded here
	}
	return b
}
