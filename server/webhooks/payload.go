package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event types a webhook subscribes to.
const (
	EventPush                = "push"
	EventDelete              = "delete"
	EventPull                = "pull"
	EventScanFinished        = "scan.finished"
	EventQuotaWarning        = "quota.warning"
	EventReplicationFinished = "replication.finished"
	EventJobFailed           = "job.failed"
	// EventTest is what "send test" delivers, to any webhook.
	EventTest = "test"
)

// EventTypes are the types one may subscribe to.
var EventTypes = []string{EventPush, EventDelete, EventPull, EventScanFinished, EventQuotaWarning, EventReplicationFinished, EventJobFailed}

// Payload formats.
const (
	FormatJSON        = "json"
	FormatCloudEvents = "cloudevents"
	FormatSlack       = "slack"
)

// Formats are the payload formats a webhook may use.
var Formats = []string{FormatJSON, FormatCloudEvents, FormatSlack}

// Event is something that happened, as webhooks deliver it.
type Event struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Time       time.Time      `json:"time"`
	Namespace  string         `json:"namespace,omitempty"`
	Repository string         `json:"repository,omitempty"`
	Tag        string         `json:"tag,omitempty"`
	Digest     string         `json:"digest,omitempty"`
	Actor      string         `json:"actor,omitempty"`
	Message    string         `json:"message"`
	Data       map[string]any `json:"data,omitempty"`
}

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body under the webhook's
// secret, as GitHub's X-Hub-Signature-256.
const SignatureHeader = "X-Berth-Signature-256"

// Sign is the signature header's value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// subject is what an event is about: repo:tag, repo@digest, the repository or namespace.
func (e Event) subject() string {
	switch {
	case e.Repository != "" && e.Tag != "":
		return e.Repository + ":" + e.Tag
	case e.Repository != "" && e.Digest != "":
		return e.Repository + "@" + e.Digest
	case e.Repository != "":
		return e.Repository
	}
	return e.Namespace
}

// body renders e in format with its content type. CloudEvents are in structured mode
// (CloudEvents 1.0, JSON event format): the attributes and the event as data, in one document.
func body(format string, e Event, source string) ([]byte, string, error) {
	switch format {
	case FormatCloudEvents:
		ce := map[string]any{
			"specversion": "1.0", "id": e.ID, "source": source, "type": "io.berth." + e.Type,
			"time": e.Time.UTC().Format(time.RFC3339Nano), "datacontenttype": "application/json", "data": e,
		}
		if s := e.subject(); s != "" {
			ce["subject"] = s
		}
		b, err := json.Marshal(ce)
		return b, "application/cloudevents+json; charset=utf-8", err
	case FormatSlack:
		b, err := json.Marshal(map[string]string{"text": slackText(e)})
		return b, "application/json", err
	}
	b, err := json.Marshal(e)
	return b, "application/json", err
}

// slackText is the event as one line of Slack's mrkdwn (its incoming webhooks' "text").
func slackText(e Event) string {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	line := fmt.Sprintf("*%s*", esc.Replace(e.Type))
	if s := e.subject(); s != "" {
		line += " `" + esc.Replace(s) + "`"
	}
	if e.Actor != "" {
		line += " by " + esc.Replace(e.Actor)
	}
	if e.Message != "" {
		line += ": " + esc.Replace(e.Message)
	}
	return line
}

// subscribed reports whether a webhook with events takes an event of type t.
func subscribed(events []string, t string) bool {
	return t == EventTest || slices.Contains(events, t)
}
