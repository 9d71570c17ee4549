package client

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/vise-edge/vise"
)

// ApplyPipeline stores a YAML pipeline definition as the pipeline's next
// version; created is false when the text is unchanged.
func (c *Client) ApplyPipeline(ctx context.Context, yaml []byte) (d *vise.PipelineDefinition, created bool, err error) {
	d = new(vise.PipelineDefinition)
	var status int
	err = c.do(ctx, request{method: http.MethodPost, path: "/v1/pipelines", body: bytes.NewReader(yaml), size: int64(len(yaml)),
		ctype: "application/yaml", status: &status}, d)
	return d, status == http.StatusCreated, err
}

func (c *Client) Pipelines(ctx context.Context) ([]vise.PipelineDefinition, error) {
	var out []vise.PipelineDefinition
	return out, c.getJSON(ctx, "/v1/pipelines", &out)
}

// Pipeline returns a version of a pipeline definition, the newest for 0.
func (c *Client) Pipeline(ctx context.Context, name string, version int) (*vise.PipelineDefinition, error) {
	var d vise.PipelineDefinition
	path := "/v1/pipelines/" + esc(name)
	if version > 0 {
		path += "?version=" + strconv.Itoa(version)
	}
	return &d, c.getJSON(ctx, path, &d)
}

func (c *Client) RunPipeline(ctx context.Context, name string, params map[string]string) (*vise.Execution, error) {
	var x vise.Execution
	return &x, c.sendJSON(ctx, http.MethodPost, "/v1/pipelines/"+esc(name)+"/executions", vise.RunPipelineRequest{Params: params}, &x)
}

func (c *Client) Executions(ctx context.Context, pipeline string, limit int) ([]vise.Execution, error) {
	q := url.Values{}
	if pipeline != "" {
		q.Set("pipeline", pipeline)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []vise.Execution
	return out, c.getJSON(ctx, "/v1/executions?"+q.Encode(), &out)
}

func (c *Client) Execution(ctx context.Context, id string) (*vise.Execution, error) {
	var x vise.Execution
	return &x, c.getJSON(ctx, "/v1/executions/"+esc(id), &x)
}

func (c *Client) CancelExecution(ctx context.Context, id string) (*vise.Execution, error) {
	var x vise.Execution
	return &x, c.sendJSON(ctx, http.MethodPost, "/v1/executions/"+esc(id)+"/cancel", struct{}{}, &x)
}

func (c *Client) ModelTargets(ctx context.Context, model string) ([]vise.ModelTarget, error) {
	var out []vise.ModelTarget
	return out, c.getJSON(ctx, "/v1/models/"+esc(model)+"/targets", &out)
}

func (c *Client) SetModelTargets(ctx context.Context, model string, ts []vise.ModelTarget) ([]vise.ModelTarget, error) {
	var out []vise.ModelTarget
	return out, c.sendJSON(ctx, http.MethodPut, "/v1/models/"+esc(model)+"/targets", ts, &out)
}
