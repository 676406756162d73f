package introspect

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Outcomes of one introspection call, as counted by
// tollgate_introspect_calls_total{result}.
const (
	resultOK = iota // the server answered 200 (judged into active or inactive)
	resultActive
	resultInactive
	resultTimeout
	resultNetwork
	resultStatus
	resultBadResponse
	resultOverloaded
	numResults
)

var resultNames = [numResults]string{"ok", "active", "inactive", "timeout", "network_error", "http_error", "bad_response", "overloaded"}

// maxResponseBytes bounds the introspection response read into memory.
const maxResponseBytes = 64 << 10

// call POSTs the token to the endpoint (RFC 7662 §2.1) and returns the
// body of a 200 answer, or a failure class and a detail for the client.
// It is bounded by the filter's timeout.
func (f *Filter) call(raw []byte) ([]byte, int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	form := "token=" + url.QueryEscape(string(raw)) + "&token_type_hint=access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint, strings.NewReader(form))
	if err != nil {
		return nil, resultNetwork, "cannot build the introspection request"
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", f.basicAuth) // RFC 7662 §2.1: the caller authenticates
	resp, err := f.client.Do(req)
	if err != nil {
		if isTimeout(ctx, err) {
			return nil, resultTimeout, "the introspection endpoint did not answer in time"
		}
		return nil, resultNetwork, "cannot reach the introspection endpoint"
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes)) // keep the connection reusable
		return nil, resultStatus, "the introspection endpoint answered " + strconv.Itoa(resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	switch {
	case err != nil && isTimeout(ctx, err):
		return nil, resultTimeout, "the introspection endpoint did not answer in time"
	case err != nil:
		return nil, resultNetwork, "cannot read the introspection response"
	case len(body) > maxResponseBytes:
		return nil, resultBadResponse, "the introspection response is too large"
	}
	return body, resultOK, ""
}

func isTimeout(ctx context.Context, err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// basicAuth is the client's Authorization value: HTTP Basic with the id
// and secret form-urlencoded first (RFC 6749 §2.3.1, which RFC 7662 §2.1
// relies on).
func basicAuth(id, secret string) string {
	cred := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
}

// newClient returns the client for introspection calls: TLS 1.2 or newer,
// the system roots or caFile, no redirects (a redirect would carry the
// client secret and the token somewhere unconfigured), idle connections
// kept for up to maxConns concurrent calls.
func newClient(caFile string, maxConns int) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := filters.CertPool(caFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		MaxConnsPerHost:       maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the per-call context bounds everything
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// checkEndpoint accepts an absolute https URL, or http on a loopback host
// (a local sidecar); anything else would send the client secret and the
// tokens in clear.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("cannot parse URL " + strconv.Quote(s))
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("URL " + strconv.Quote(s) + " must be absolute, without user info or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("URL " + strconv.Quote(s) + " must be https (http only to a loopback address)")
	}
	return errors.New("URL " + strconv.Quote(s) + " must be https")
}
