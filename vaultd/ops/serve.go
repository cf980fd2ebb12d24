package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ServeOptions configure Serve.
type ServeOptions struct {
	Listen    string // loopback host:port, or a Unix socket path starting with "/"
	Socket    string // the daemon's socket ("" : the client's default)
	TokenFile string // else $VAULT_TOKEN, else $CREDENTIALS_DIRECTORY/jawn-vault-token
	Getenv    func(string) string
	Logger    *slog.Logger
	// Ready, if set, is called with the listener's address once it accepts.
	Ready func(addr string)
}

// ErrNotLoopback is returned for a TCP listen address that is not loopback.
var ErrNotLoopback = errors.New("the status page listens on loopback only")

// Serve runs the status page until ctx is done.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	token, err := TokenSource(o.TokenFile, o.Getenv)
	if err != nil {
		return err
	}
	ln, err := Listen(o.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           Handler(&Fetcher{Socket: o.Socket, Token: token}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	o.Logger.Info("status page listening", "addr", ln.Addr().String())
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-done
	if strings.HasPrefix(o.Listen, "/") {
		_ = os.Remove(o.Listen)
	}
	return err
}

// TokenSource returns a function that reads the token afresh on each call
// (so a rotated token file is picked up): from file, else $VAULT_TOKEN,
// else $CREDENTIALS_DIRECTORY/jawn-vault-token (systemd LoadCredential=).
func TokenSource(file string, getenv func(string) string) (func() (string, error), error) {
	if file == "" {
		if t := getenv("VAULT_TOKEN"); t != "" {
			return func() (string, error) { return t, nil }, nil
		}
		if d := getenv("CREDENTIALS_DIRECTORY"); d != "" {
			file = filepath.Join(d, "jawn-vault-token")
		}
	}
	if file == "" {
		return nil, errors.New("no token: give --token-file, or set VAULT_TOKEN")
	}
	read := func() (string, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", errors.Unwrap(err))
		}
		t := strings.TrimSpace(string(b))
		clear(b)
		if t == "" {
			return "", fmt.Errorf("token file %s is empty", file)
		}
		return t, nil
	}
	if _, err := read(); err != nil {
		return nil, err
	}
	return read, nil
}

// Listen opens addr: a Unix socket (mode 0600, never a permission window)
// when it starts with "/", else a TCP address whose host must be loopback.
func Listen(addr string) (net.Listener, error) {
	if strings.HasPrefix(addr, "/") {
		return listenUnix(addr)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", addr, err)
	}
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("--listen %q: %w (use 127.0.0.1:PORT or a socket path)", addr, ErrNotLoopback)
		}
	}
	if host == "localhost" {
		// Resolving "localhost" could, on a strange system, give a routable
		// address; bind the loopback address itself.
		_, port, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	return net.Listen("tcp", addr)
}

// listenUnix binds path with umask 077. An existing socket is removed only
// when nobody answers on it, so a running status page is never stolen.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("--listen %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("--listen %s: another process is serving on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	return ln, err
}
