package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// BuildRequest is POST /v1/images/build: a recipe, or a Dockerfile (paths
// on the daemon's host) made into the image Name. The answer streams
// progress lines as text, then one final line: "OK <image JSON>" or
// "ERROR <message>".
type BuildRequest struct {
	Recipe     string `json:"recipe,omitempty"`
	Dockerfile string `json:"dockerfile,omitempty"`
	Context    string `json:"context,omitempty"` // "" means the Dockerfile's directory
	Name       string `json:"name,omitempty"`
	Network    bool   `json:"network,omitempty"` // RUN steps get the host's network
	NoCache    bool   `json:"no_cache,omitempty"`
}

// ImportRequest is POST /v1/images/import; Path is a file on the daemon's host.
type ImportRequest struct {
	Path string `json:"path"`
	Name string `json:"name"`
}

func (c *Client) ListImages(ctx context.Context) ([]Image, error) {
	var out []Image
	err := c.Do(ctx, http.MethodGet, "/v1/images", nil, &out)
	return out, err
}

func (c *Client) InspectImage(ctx context.Context, name string) (Image, error) {
	var out Image
	p, err := path("image", "/v1/images/%s", name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

func (c *Client) RemoveImage(ctx context.Context, name string) error {
	p, err := path("image", "/v1/images/%s", name)
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodDelete, p, nil, nil)
}

func (c *Client) ImportImage(ctx context.Context, req ImportRequest) (Image, error) {
	var out Image
	err := c.untimed().Do(ctx, http.MethodPost, "/v1/images/import", req, &out)
	return out, err
}

// BuildImage builds a recipe on the daemon, copying progress lines to progress.
func (c *Client) BuildImage(ctx context.Context, recipe string, progress io.Writer) (Image, error) {
	return c.Build(ctx, BuildRequest{Recipe: recipe}, progress)
}

// Build builds a recipe or a Dockerfile on the daemon, copying progress
// lines to progress.
func (c *Client) Build(ctx context.Context, req BuildRequest, progress io.Writer) (Image, error) {
	var img Image
	err := c.untimed().stream(ctx, http.MethodPost, "/v1/images/build", req, func(line string) error {
		switch {
		case strings.HasPrefix(line, "OK "):
			return json.Unmarshal([]byte(line[3:]), &img)
		case strings.HasPrefix(line, "ERROR "):
			return fmt.Errorf("%s", line[6:])
		default:
			_, err := fmt.Fprintln(progress, line)
			return err
		}
	})
	if err == nil && img.ID == "" {
		err = fmt.Errorf("the daemon ended the build without a result: see its log")
	}
	return img, err
}

// stream sends a request and calls fn for each line of a 2xx answer.
func (c *Client) stream(ctx context.Context, method, path string, in any, fn func(string) error) error {
	var rerr error
	err := c.DoRaw(ctx, method, path, in, func(body io.Reader) {
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if err := fn(sc.Text()); err != nil {
				rerr = err
				return
			}
		}
		rerr = sc.Err()
	})
	if err != nil {
		return err
	}
	return rerr
}
