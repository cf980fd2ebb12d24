package vault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Health asks whether the daemon is up.
func (c *Client) Health(ctx context.Context) (wire.HealthResult, error) {
	var r wire.HealthResult
	err := c.Call(ctx, wire.MethodHealth, nil, &r)
	return r, err
}

// valueResult decodes get's answer in either of its forms.
type valueResult struct {
	Value    wire.Secret    `json:"value"`
	ValueB64 wire.SecretB64 `json:"value_b64"`
}

func (v *valueResult) bytes() []byte {
	if v.ValueB64 != nil {
		return v.ValueB64
	}
	if v.Value == nil {
		return []byte{}
	}
	return v.Value
}

// Get returns the value at path. The caller should clear the slice when
// done with it.
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	var r valueResult
	if err := c.Call(ctx, wire.MethodGet, wire.PathParams{Path: path}, &r); err != nil {
		return nil, err
	}
	return r.bytes(), nil
}

// GetResult is one answer of GetMany.
type GetResult struct {
	Path  string
	Value []byte
	Err   error
}

// GetMany reads several paths in one round trip. A connection error is
// returned as err; per-path errors are in the results.
func (c *Client) GetMany(ctx context.Context, paths []string) ([]GetResult, error) {
	b := c.Batch()
	rs := make([]valueResult, len(paths))
	for i, p := range paths {
		b.Add(wire.MethodGet, wire.PathParams{Path: p}, &rs[i])
	}
	errs, err := b.Run(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]GetResult, len(paths))
	for i, p := range paths {
		out[i] = GetResult{Path: p, Err: errs[i]}
		if errs[i] == nil {
			out[i].Value = rs[i].bytes()
		}
	}
	return out, nil
}

// Set writes value at path. Values that are not UTF-8 travel as value_b64.
func (c *Client) Set(ctx context.Context, path string, value []byte) error {
	p := append([]byte(`{"path":`), wire.AppendString(nil, []byte(path))...)
	if utf8.Valid(value) && utf8.ValidString(path) {
		p = append(p, `,"value":`...)
		p = wire.AppendString(p, value)
	} else {
		p = append(p, `,"value_b64":"`...)
		p = base64.StdEncoding.AppendEncode(p, value)
		p = append(p, '"')
	}
	p = append(p, '}')
	defer clear(p)
	return c.Call(ctx, wire.MethodSet, json.RawMessage(p), nil)
}

// Delete removes the entry at path.
func (c *Client) Delete(ctx context.Context, path string) error {
	return c.Call(ctx, wire.MethodDelete, wire.PathParams{Path: path}, nil)
}

// List returns the readable paths under prefix ("" for all).
func (c *Client) List(ctx context.Context, prefix string) ([]string, error) {
	var r wire.ListResult
	err := c.Call(ctx, wire.MethodList, wire.ListParams{Prefix: prefix}, &r)
	return r.Paths, err
}

// TokenCreate issues a token.
func (c *Client) TokenCreate(ctx context.Context, p wire.TokenCreateParams) (wire.TokenCreateResult, error) {
	var r wire.TokenCreateResult
	err := c.Call(ctx, wire.MethodTokenCreate, p, &r)
	return r, err
}

// TokenList lists live tokens.
func (c *Client) TokenList(ctx context.Context) ([]wire.TokenInfo, error) {
	var r wire.TokenListResult
	err := c.Call(ctx, wire.MethodTokenList, nil, &r)
	return r.Tokens, err
}

// TokenRevoke revokes a token by name or id.
func (c *Client) TokenRevoke(ctx context.Context, nameOrID string) (wire.TokenRevokeResult, error) {
	var r wire.TokenRevokeResult
	p := wire.TokenRevokeParams{Name: nameOrID}
	if len(nameOrID) > 4 && nameOrID[:4] == "tok_" {
		p = wire.TokenRevokeParams{ID: nameOrID}
	}
	err := c.Call(ctx, wire.MethodTokenRevoke, p, &r)
	return r, err
}

// AuditQuery reads the audit log.
func (c *Client) AuditQuery(ctx context.Context, q wire.AuditQueryParams) ([]wire.AuditEntry, error) {
	var r wire.AuditQueryResult
	err := c.Call(ctx, wire.MethodAuditQuery, q, &r)
	return r.Entries, err
}

// Status returns the daemon's status object.
func (c *Client) Status(ctx context.Context) (wire.StatusResult, error) {
	var r wire.StatusResult
	err := c.Call(ctx, wire.MethodStatus, nil, &r)
	return r, err
}
