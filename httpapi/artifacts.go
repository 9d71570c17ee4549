package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vise-edge/vise"
)

func (a *API) routeArtifacts() {
	a.mux.Handle("PUT /v1/artifacts/{sha256}", a.handle(roleAdmin, a.putArtifact))
	a.mux.Handle("HEAD /v1/artifacts/{sha256}", a.handle(roleViewer, a.headArtifact))
	a.mux.Handle("GET /v1/artifacts/{sha256}", a.handle(roleViewer, a.getArtifact))
}

// putArtifact streams the body into the blob store. The path names the
// digest the content must have; Content-Length, if sent, the exact size.
func (a *API) putArtifact(w http.ResponseWriter, r *http.Request) error {
	sha := r.PathValue("sha256")
	if err := vise.ValidateSHA256(sha); err != nil {
		return err
	}
	art, err := a.reg.Upload(r.Context(), r.Body, r.ContentLength, sha)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, art)
}

func (a *API) headArtifact(w http.ResponseWriter, r *http.Request) error {
	art, err := a.reg.Artifact(r.Context(), r.PathValue("sha256"))
	if err != nil {
		w.WriteHeader(vise.ErrorCode(err).HTTPStatus())
		return nil
	}
	artifactHeaders(w, art)
	w.Header().Set("Content-Length", strconv.FormatInt(art.Size, 10))
	return nil
}

func artifactHeaders(w http.ResponseWriter, art vise.Artifact) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+art.SHA256+`"`)
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable") // content-addressed
}

// getArtifact serves a blob, with single-range requests so a device can
// resume a download cut by a bad link.
func (a *API) getArtifact(w http.ResponseWriter, r *http.Request) error {
	art, err := a.reg.Artifact(r.Context(), r.PathValue("sha256"))
	if err != nil {
		return err
	}
	off, n, partial, err := parseRange(r.Header.Get("Range"), art.Size)
	if err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", art.Size))
		return err
	}
	rc, err := a.reg.OpenArtifact(r.Context(), art.SHA256, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	artifactHeaders(w, art)
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, art.Size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if _, err := io.Copy(w, rc); err != nil {
		logger(r.Context(), a.log).Warn("artifact download cut", "sha256", art.SHA256, "err", err)
	}
	return nil
}

// parseRange understands "bytes=A-", "bytes=A-B" and "bytes=-N"; that is all
// a resuming downloader sends.
func parseRange(h string, size int64) (off, n int64, partial bool, err error) {
	if h == "" {
		return 0, size, false, nil
	}
	bad := vise.Errorf(vise.CodeInvalid, "unsupported or unsatisfiable Range %q for %d bytes; send bytes=START- or bytes=START-END", h, size)
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false, bad
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false, bad
	}
	if first == "" { // suffix: the last N bytes
		k, err := strconv.ParseInt(last, 10, 64)
		if err != nil || k <= 0 {
			return 0, 0, false, bad
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	off, err = strconv.ParseInt(first, 10, 64)
	if err != nil || off < 0 || off >= size {
		return 0, 0, false, bad
	}
	end := size - 1
	if last != "" {
		if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < off {
			return 0, 0, false, bad
		}
		end = min(end, size-1)
	}
	return off, end - off + 1, true, nil
}
