// Package client is the Go client of Vise's HTTP API, used by the CLI and
// by integration tests. Errors come back as *vise.Error with the server's
// code and message.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vise-edge/vise/deviceapi"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/vise-edge/vise"
)

// Client talks to one server. The zero HTTP field uses a client with
// sensible timeouts.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
	// Warnings, if set, is told the text of each Warning header the server
	// answers with (a deprecated spelling, say).
	Warnings func(msg string)
}

// New makes a client for baseURL ("http://127.0.0.1:8420").
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token,
		HTTP: &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 5 * time.Minute,
			DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}}}
}

type request struct {
	method string
	path   string
	body   io.Reader
	size   int64 // -1 unknown
	ctype  string
	status *int         // if set, receives the response status
	header *http.Header // if set, receives the response headers
}

func (c *Client) do(ctx context.Context, req request, out any) error {
	hr, err := http.NewRequestWithContext(ctx, req.method, c.BaseURL+req.path, req.body)
	if err != nil {
		return vise.Errorf(vise.CodeInvalid, "bad server URL %q: %w", c.BaseURL, err)
	}
	if req.body != nil {
		hr.ContentLength = req.size
		hr.Header.Set("Content-Type", req.ctype)
	}
	if c.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &vise.Error{Code: vise.CodeUnavailable, Err: err,
			Message: fmt.Sprintf("cannot reach the Vise server at %s: %v; start it with 'vise server' or point --server (VISE_SERVER) at it", c.BaseURL, err)}
	}
	defer resp.Body.Close()
	if req.status != nil {
		*req.status = resp.StatusCode
	}
	if req.header != nil {
		*req.header = resp.Header
	}
	if c.Warnings != nil {
		for _, w := range resp.Header.Values("Warning") {
			c.Warnings(warningText(w))
		}
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err := io.Copy(w, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return vise.Errorf(vise.CodeInternal, "unreadable answer from %s %s: %w", req.method, req.path, err)
	}
	return nil
}

func decodeError(resp *http.Response) error {
	var body deviceapi.ErrorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) != nil || body.Error.Code == "" {
		msg := strings.TrimSpace(string(b))
		if msg == "" {
			msg = resp.Status
		}
		return &vise.Error{Code: vise.CodeFromHTTPStatus(resp.StatusCode), Message: "server answered " + resp.Status + ": " + msg}
	}
	return &vise.Error{Code: body.Error.Code, Message: body.Error.Message}
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	return c.do(ctx, request{method: http.MethodGet, path: path}, out)
}

func (c *Client) sendJSON(ctx context.Context, method, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: method, path: path, body: bytes.NewReader(b), size: int64(len(b)), ctype: "application/json"}, out)
}

// Progress is told about upload progress; the CLI draws a bar with it.
type Progress interface {
	io.Writer
	Finish() error
}

// UploadFile uploads a local file as a content-addressed artifact: it hashes
// the file first, skips the upload if the server has it already, and streams
// it otherwise. progress may be nil.
func (c *Client) UploadFile(ctx context.Context, path string, progress func(size int64) Progress) (vise.Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return vise.Artifact{}, vise.Errorf(vise.CodeInvalid, "cannot read %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return vise.Artifact{}, vise.Errorf(vise.CodeInvalid, "cannot read %s: %w", path, err)
	}
	a := vise.Artifact{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	if ok, err := c.HasArtifact(ctx, a.SHA256); err != nil {
		return a, err
	} else if ok {
		return a, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return a, err
	}
	var body io.Reader = f
	if progress != nil {
		p := progress(n)
		defer p.Finish()
		body = io.TeeReader(f, p)
	}
	return a, c.Upload(ctx, body, a)
}

// Upload sends size bytes that must hash to a.SHA256.
func (c *Client) Upload(ctx context.Context, body io.Reader, a vise.Artifact) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/v1/artifacts/" + a.SHA256, body: body, size: a.Size, ctype: "application/octet-stream"}, nil)
}

// HasArtifact asks whether the server stores a blob.
func (c *Client) HasArtifact(ctx context.Context, sha string) (bool, error) {
	err := c.do(ctx, request{method: http.MethodHead, path: "/v1/artifacts/" + sha}, nil)
	if vise.ErrorCode(err) == vise.CodeNotFound {
		return false, nil
	}
	return err == nil, err
}

// warningText is the quoted text of a Warning header (`299 agent "text"`),
// or the whole value when it is not in that form.
func warningText(v string) string {
	if i := strings.IndexByte(v, '"'); i >= 0 && strings.HasSuffix(v, `"`) && len(v) > i+1 {
		return v[i+1 : len(v)-1]
	}
	return v
}

// DownloadFile writes an artifact to path, checking its sha256.
func (c *Client) DownloadFile(ctx context.Context, sha, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	h := sha256.New()
	err = c.do(ctx, request{method: http.MethodGet, path: "/v1/artifacts/" + sha}, io.MultiWriter(f, h))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != sha {
		err = vise.Errorf(vise.CodeInternal, "artifact %s arrived with another sha256; try again", sha[:12])
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func jsonBody(v any) (*bytes.Buffer, error) {
	var b bytes.Buffer
	return &b, json.NewEncoder(&b).Encode(v)
}
