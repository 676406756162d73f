package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// maxDocBytes bounds a fetched JWK Set or discovery document.
const maxDocBytes = 1 << 20

type sourceKind uint8

const (
	sourceNone      sourceKind = iota // shared secret only
	sourceFile                        // jwks_file
	sourceURL                         // jwks_url
	sourceDiscovery                   // {issuer}/.well-known/openid-configuration
)

// issuer is one trusted token issuer with its keys and policy. Its key set
// is swapped atomically by its refresher; everything else is fixed at
// construction.
type issuer struct {
	idx        int
	name       string
	nameB      []byte
	audiences  [][]byte
	algs       algSet
	hmac       *hmacKey // nil without hs_secret
	rolesPath  [][]byte
	tenantPath [][]byte

	keys atomic.Pointer[keySet]

	src        sourceKind
	location   string // file path or JWKS URL
	client     *http.Client
	timeout    time.Duration
	interval   time.Duration
	minRefetch time.Duration
	retryMin   time.Duration
	kick       chan struct{}
	lastFetch  atomic.Int64 // unix nanoseconds of the last fetch attempt
	lastErr    atomic.Pointer[error]
	onResult   func(ok bool)
}

// epoch returns the key set epoch tokens are cached under.
func (is *issuer) epoch() uint64 {
	if ks := is.keys.Load(); ks != nil {
		return ks.epoch
	}
	return 0
}

// requestRefresh asks the refresher for an early fetch (an unknown kid, or
// no keys yet). It never blocks, and it is rate limited: at most one fetch
// per minRefetch, so a flood of random kids cannot hammer the key server.
func (is *issuer) requestRefresh() {
	if is.kick == nil || time.Now().UnixNano()-is.lastFetch.Load() < int64(is.minRefetch) {
		return
	}
	select {
	case is.kick <- struct{}{}:
	default:
	}
}

// run refreshes the key set on the interval and on request until ctx ends.
// A failed fetch keeps the last good set and is retried with exponential
// backoff from retryMin up to the interval.
func (is *issuer) run(ctx context.Context, failing bool) {
	backoff := is.retryMin
	next := is.interval
	if failing {
		next = backoff
	}
	timer := time.NewTimer(next)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-is.kick:
			if time.Now().UnixNano()-is.lastFetch.Load() < int64(is.minRefetch) {
				continue
			}
		}
		if err := is.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			next = backoff
			backoff = min(2*backoff, is.interval)
		} else {
			next, backoff = is.interval, is.retryMin
		}
		timer.Reset(next)
	}
}

// refresh fetches and installs the key set once.
func (is *issuer) refresh(ctx context.Context) error {
	is.lastFetch.Store(time.Now().UnixNano())
	err := is.load(ctx)
	if err != nil {
		is.lastErr.Store(&err)
	} else {
		is.lastErr.Store(nil)
	}
	if is.onResult != nil {
		is.onResult(err == nil)
	}
	return err
}

func (is *issuer) load(ctx context.Context) error {
	var data []byte
	var err error
	switch is.src {
	case sourceFile:
		data, err = readFileLimited(is.location)
	case sourceURL:
		data, err = is.get(ctx, is.location)
	case sourceDiscovery:
		var jwksURI string
		if jwksURI, err = is.discover(ctx); err == nil {
			data, err = is.get(ctx, jwksURI)
		}
	default:
		return nil
	}
	if err != nil {
		return err
	}
	ks, _, err := parseJWKS(data)
	if err != nil {
		return err
	}
	ks.epoch = nextEpoch(is.keys.Load(), ks)
	is.keys.Store(ks)
	return nil
}

func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read JWK set: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDocBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read JWK set: %w", err)
	}
	if len(data) > maxDocBytes {
		return nil, fmt.Errorf("cannot read JWK set %q: larger than %d bytes", path, maxDocBytes)
	}
	return data, nil
}

// get fetches an HTTPS document.
func (is *issuer) get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, is.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch %q: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := is.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch %q: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot fetch %q: status %d", u, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot fetch %q: %w", u, err)
	}
	if len(data) > maxDocBytes {
		return nil, fmt.Errorf("cannot fetch %q: larger than %d bytes", u, maxDocBytes)
	}
	return data, nil
}

// discover reads the issuer's OpenID Provider metadata (OpenID Connect
// Discovery 1.0 §4) and returns its jwks_uri.
func (is *issuer) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(is.name, "/") + "/.well-known/openid-configuration"
	data, err := is.get(ctx, u)
	if err != nil {
		return "", err
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return "", fmt.Errorf("cannot parse discovery document %q: %w", u, err)
	}
	// Discovery §4.3: the issuer in the document must be the one asked for.
	if meta.Issuer != is.name {
		return "", fmt.Errorf("cannot use discovery document %q: issuer %q does not match %q", u, meta.Issuer, is.name)
	}
	if err := checkHTTPS(meta.JWKSURI); err != nil {
		return "", fmt.Errorf("cannot use discovery document %q: jwks_uri: %w", u, err)
	}
	return meta.JWKSURI, nil
}

// checkHTTPS accepts absolute https URLs with a host.
func checkHTTPS(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("cannot parse URL %q: %w", s, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("URL %q must be an absolute https URL", s)
	}
	return nil
}

var errRedirect = errors.New("jwtauth: refusing a redirect that is not https or too long")

// checkRedirect follows at most three redirects, all to https.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 || req.URL.Scheme != "https" {
		return errRedirect
	}
	return nil
}
