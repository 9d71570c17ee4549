package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
	"github.com/vise-edge/vise/store"
)

// twoDevices enrolls cam-a and cam-b and deploys a component of its own to
// each; it returns their agent directories and deployments.
func twoDevices(t *testing.T, s *server.Server, c *client.Client) (dirs, deps map[string]string, arts map[string]vise.Artifact) {
	t.Helper()
	dirs, deps, arts = map[string]string{}, map[string]string{}, map[string]vise.Artifact{}
	for _, name := range []string{"cam-a", "cam-b"} {
		dirs[name] = enrollOnly(t, s, c, name)
		arts[name] = uploadBytes(t, c, "#!/bin/sh\n# only for "+name+"\n")
		if _, _, err := c.CreateComponent(ctx, recipe("comp."+name, "1.0.0", arts[name], nil)); err != nil {
			t.Fatal(err)
		}
		d, err := c.CreateDeployment(ctx, vise.CreateDeploymentRequest{Target: vise.Target{Kind: vise.TargetDevice, Name: name},
			Components:    []vise.ComponentRef{{Name: "comp." + name, Version: "1.0.0"}},
			Configuration: map[string]map[string]any{"comp." + name: {"secret": "for " + name}}})
		if err != nil {
			t.Fatal(err)
		}
		deps[name] = d.ID
	}
	return dirs, deps, arts
}

// deviceGet fetches a device API path with an enrolled agent's certificate.
func deviceGet(t *testing.T, s *server.Server, agentDir, path string) (int, string) {
	t.Helper()
	cfg, err := deviceTLS(agentDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := hc.Get(s.DeviceURL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A device is served only what is addressed to it: its signed metadata
// lists nothing of another device's, and another device's document,
// recipe and artifact answer exactly as a made-up one does.
func TestDeviceSeesOnlyItsOwn(t *testing.T) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			s, c := start(t, engine)
			dirs, deps, arts := twoDevices(t, s, c)
			code, body := deviceGet(t, s, dirs["cam-a"], "/v1/release/targets.json")
			if code != http.StatusOK {
				t.Fatalf("targets.json: %d %s", code, body)
			}
			var md struct {
				Signed struct {
					Targets map[string]json.RawMessage `json:"targets"`
				} `json:"signed"`
			}
			json.Unmarshal([]byte(body), &md)
			var listed []string
			for p := range md.Signed.Targets {
				listed = append(listed, p)
			}
			slices.Sort(listed)
			want := []string{"artifacts/" + arts["cam-a"].SHA256, "components/comp.cam-a/1.0.0/recipe.json", "deployments/" + deps["cam-a"] + ".json"}
			if !slices.Equal(listed, want) {
				t.Errorf("cam-a's signed targets = %v, want only its own %v", listed, want)
			}
			for _, path := range []string{"/v1/release/timestamp.json", "/v1/release/snapshot.json", "/v1/release/root.json"} {
				if code, body := deviceGet(t, s, dirs["cam-a"], path); code != http.StatusOK || strings.Contains(body, "cam-b") {
					t.Errorf("%s: %d, mentions cam-b: %v", path, code, strings.Contains(body, "cam-b"))
				}
			}
			own := []string{"/v1/targets/deployments/" + deps["cam-a"] + ".json", "/v1/targets/components/comp.cam-a/1.0.0/recipe.json",
				"/v1/targets/artifacts/" + arts["cam-a"].SHA256}
			for _, path := range own {
				if code, body := deviceGet(t, s, dirs["cam-a"], path); code != http.StatusOK {
					t.Errorf("cam-a's own %s: %d %s", path, code, body)
				}
			}
			guess := make([]byte, 32)
			rand.Read(guess)
			for _, pair := range [][2]string{
				{"/v1/targets/deployments/" + deps["cam-b"] + ".json", "/v1/targets/deployments/01JZZZZZZZZZZZZZZZZZZZZZZZ.json"},
				{"/v1/targets/components/comp.cam-b/1.0.0/recipe.json", "/v1/targets/components/comp.cam-z/1.0.0/recipe.json"},
				{"/v1/targets/artifacts/" + arts["cam-b"].SHA256, "/v1/targets/artifacts/" + hex.EncodeToString(guess)},
				{"/v1/targets/deployments/" + deps["cam-b"], "/v1/targets/deployments/nothing"},
			} {
				code, body := deviceGet(t, s, dirs["cam-a"], pair[0])
				codeMadeUp, bodyMadeUp := deviceGet(t, s, dirs["cam-a"], pair[1])
				if code != http.StatusNotFound || strings.Contains(body, "secret") || strings.Contains(body, "only for") {
					t.Errorf("cam-a asking for cam-b's %s: %d %s; want 404", pair[0], code, body)
				}
				if code != codeMadeUp || stripRequestID(body) != stripRequestID(bodyMadeUp) {
					t.Errorf("cam-b's %s answers %d %q, a made-up one %d %q: the answer tells it exists", pair[0], code, body, codeMadeUp, bodyMadeUp)
				}
			}
		})
	}
}

// stripRequestID drops the per-request id from an error body.
func stripRequestID(body string) string {
	var e map[string]map[string]any
	if json.Unmarshal([]byte(body), &e) != nil {
		return body
	}
	delete(e["error"], "request_id")
	b, _ := json.Marshal(e)
	return string(b)
}

// What devices publish is held to the rules at the door: a will outside
// the device's subtree is refused at CONNECT, broken results are refused
// and counted by rule (and acknowledged: sending them again cannot help),
// two devices' equal message ids are two results, and a status report on
// someone else's deployment changes nothing.
func TestDeviceMessagesAtTheDoor(t *testing.T) {
	s, c := start(t, store.SQLite)
	dirs, deps, _ := twoDevices(t, s, c)
	for _, will := range []*paho.WillMessage{
		{Topic: "vise/devices/cam-b/inference/vise.inspect", QoS: 1, Payload: []byte(`{"msg_id":"forged"}`)},
		{Topic: "vise/devices/cam-b/status", QoS: 1, Payload: []byte(`{"deployment":"` + deps["cam-b"] + `","state":"FAILED"}`)},
		{Topic: "vise/devices/cam-a/status", QoS: 1, Retain: true, Payload: []byte(`{}`)},
	} {
		_, err := dialDeviceWith(dirs["cam-a"], s.MQTTAddr(), &paho.Connect{ClientID: "cam-a", CleanStart: true, KeepAlive: 30, WillMessage: will}, 0)
		if err == nil || !strings.Contains(err.Error(), "not authorized") {
			t.Errorf("CONNECT with a will on %s (retain %v): %v; want refused, not authorized", will.Topic, will.Retain, err)
		}
	}

	camA := deviceClient(t, dirs["cam-a"], s.MQTTAddr(), "cam-a")
	camB := deviceClient(t, dirs["cam-b"], s.MQTTAddr(), "cam-b")
	resultTopic := func(d string) string { return "vise/devices/" + d + "/inference/vise.inspect" }
	bad := map[string]string{
		"depth":      `{"msg_id":"deep","x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		"detections": `{"msg_id":"many","detections":[` + strings.TrimSuffix(strings.Repeat("{},", 1000001), ",") + `]}`,
		"utf8":       "{\"msg_id\":\"bad-utf8\",\"note\":\"\xff\xfe\"}",
		"msg_id":     `{"msg_id":"nul\u0000id"}`,
	}
	for rule, payload := range bad {
		if err := publishQoS1(camA, resultTopic("cam-a"), payload); err != nil {
			t.Errorf("a result breaking %s was not acknowledged: %v", rule, err)
		}
		series := `vise_device_messages_refused_total{kind="result",rule="` + rule + `"}`
		poll(t, series, 5*time.Second, func() bool { return scrape(t, s, series) == 1 })
	}
	same := `{"schema":1,"msg_id":"same-id","detections":[]}`
	for _, cl := range []*paho.Client{camA, camB} {
		if err := publishQoS1(cl, resultTopic(map[*paho.Client]string{camA: "cam-a", camB: "cam-b"}[cl]), same); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"cam-a", "cam-b"} {
		rs := resultsOf(t, c, d)
		if len(rs) != 1 || rs[0].MsgID != "same-id" {
			t.Errorf("results of %s = %+v; want its own same-id only", d, rs)
		}
	}

	report := `{"generation":9,"deployment":"` + deps["cam-b"] + `","state":"FAILED","message":"forged by cam-a"}`
	if err := publishQoS1(camA, "vise/devices/cam-a/status", report); err != nil {
		t.Fatal(err)
	}
	series := `vise_device_messages_refused_total{kind="status",rule="not_a_target"}`
	poll(t, series, 5*time.Second, func() bool { return scrape(t, s, series) == 1 })
	d, err := c.Deployment(ctx, deps["cam-b"])
	if err != nil || d.Devices[0].State != vise.DevicePending || d.Status != vise.DeploymentInProgress {
		t.Errorf("cam-b's deployment after cam-a's report on it: %+v %v", d, err)
	}
}

func publishQoS1(c *paho.Client, topic, payload string) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	return err
}
