// Package discordtest is a local stand-in for Discord's webhook endpoint:
// it records every execute request with its decoded embeds and answers from
// a script (204 by default, or 429s, 5xx, hangs), for tests and for the
// offline demo.
package discordtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Response is one scripted answer.
type Response struct {
	Status int               // 0 = 204 No Content
	Body   string            // written as is
	Header map[string]string // extra headers
	// Hang makes the handler block until the client gives up or the server
	// is closed (an unresponsive Discord).
	Hang bool
}

// Request is one received execute call.
type Request struct {
	At        time.Time // arrival
	Responded time.Time // when the answer was written (zero if it hung)
	Status    int
	Path      string
	ID, Token string
	Params    discordgo.WebhookParams
}

// Server is the stand-in. Create it with New and Close it when done.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	script   []Response
	fallback Response
	reqs     []Request
	arrived  chan struct{}
	release  chan struct{}
	once     sync.Once
}

// New starts a server on a loopback port.
func New() *Server {
	s := &Server{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// WebhookURL is a webhook URL pointing at this server.
func (s *Server) WebhookURL(id, token string) string {
	return s.URL + "/api/webhooks/" + id + "/" + token
}

// APIBase is the base to give a sender whose webhook URL is on discord.com.
func (s *Server) APIBase() string { return s.URL + "/api/v" + discordgo.APIVersion + "/" }

// Script queues answers for the next requests, in order; after them the
// fallback answers.
func (s *Server) Script(rs ...Response) {
	s.mu.Lock()
	s.script = append(s.script, rs...)
	s.mu.Unlock()
}

// SetFallback sets the answer once the script is used up.
func (s *Server) SetFallback(r Response) {
	s.mu.Lock()
	s.fallback = r
	s.mu.Unlock()
}

// Requests returns a copy of the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// WaitRequests waits until at least n requests have arrived or ctx is done.
func (s *Server) WaitRequests(ctx context.Context, n int) []Request {
	for {
		if rs := s.Requests(); len(rs) >= n {
			return rs
		}
		select {
		case <-ctx.Done():
			return s.Requests()
		case <-s.arrived:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close releases hanging handlers and stops the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.release) })
	s.Server.Close()
}

// Release unblocks handlers that hang (and makes later Hang answers return
// at once).
func (s *Server) Release() { s.once.Do(func() { close(s.release) }) }

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	req := Request{At: time.Now(), Path: r.URL.Path}
	// .../webhooks/<id>/<token>
	if i := strings.Index(r.URL.Path, "/webhooks/"); i >= 0 {
		parts := strings.Split(strings.Trim(r.URL.Path[i+len("/webhooks/"):], "/"), "/")
		if len(parts) >= 2 {
			req.ID, req.Token = parts[0], parts[1]
		}
	}
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &req.Params)

	s.mu.Lock()
	resp := s.fallback
	if len(s.script) > 0 {
		resp = s.script[0]
		s.script = s.script[1:]
	}
	idx := len(s.reqs)
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}

	if resp.Hang {
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusNoContent
	}
	for k, v := range resp.Header {
		w.Header().Set(k, v)
	}
	if resp.Body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	s.mu.Lock()
	s.reqs[idx].Responded = time.Now()
	s.reqs[idx].Status = status
	s.mu.Unlock()
	w.WriteHeader(status)
	_, _ = io.WriteString(w, resp.Body)
}
