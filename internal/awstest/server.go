package awstest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fixed key pair every request must be signed with.
const (
	AccessKeyID     = "AKIDBOOTAPPTEST00001"
	SecretAccessKey = "bootapp/test/secret/key/0123456789abcdef"
	// AccountID owns every snapshot and image.
	AccountID = "123456789012"
	// BlockSize is the EBS direct APIs' block size.
	BlockSize = 512 << 10
	// MaxVolumeSize is StartSnapshot's largest VolumeSize, in GiB (64 TiB).
	MaxVolumeSize = 65536
)

// Error is an AWS error answer: HTTP status, error code and message.
type Error struct {
	Status  int
	Code    string
	Message string
	// Reason is the EBS exception's Reason field, if any.
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Throttled returns the EBS direct APIs' throttling error.
func Throttled() *Error {
	return &Error{Status: 400, Code: "RequestThrottledException", Message: "The request rate exceeded the throttling limit for the snapshot", Reason: "RESOURCE_LEVEL_THROTTLE"}
}

// EC2Throttled returns EC2's throttling error (RequestLimitExceeded, 503).
func EC2Throttled() *Error {
	return &Error{Status: 503, Code: "RequestLimitExceeded", Message: "Request limit exceeded."}
}

// Snapshot is a snapshot as the server holds it.
type Snapshot struct {
	ID          string
	Status      string // pending, completed, error
	VolumeSize  int64  // GiB
	Description string
	Tags        map[string]string
	// Blocks maps block index to its 512 KiB of data.
	Blocks map[int64][]byte
	// Puts counts PutSnapshotBlock requests that succeeded.
	Puts int
	// ChangedBlocksCount is what CompleteSnapshot was told.
	ChangedBlocksCount int64

	clientToken string
	completeAt  time.Time
}

// Mapping is one block device mapping of an image.
type Mapping struct {
	DeviceName          string
	SnapshotID          string
	VolumeSize          int64
	VolumeType          string
	DeleteOnTermination bool
}

// Image is a registered AMI.
type Image struct {
	ID                 string
	Name               string
	Description        string
	State              string
	Architecture       string
	BootMode           string
	EnaSupport         bool
	ImdsSupport        string
	RootDeviceName     string
	VirtualizationType string
	Mappings           []Mapping
	Tags               map[string]string
}

// Server is the fake AWS endpoint. Create it with New.
type Server struct {
	// URL is the endpoint for both services (http://127.0.0.1:PORT).
	URL string
	// Region is the only region the server accepts in credential scopes.
	Region string
	// Fault, when set, is called before each request is handled with the
	// operation's name ("PutSnapshotBlock", "RegisterImage", ...) and the
	// number of earlier requests for it; a non-nil *Error is the answer.
	Fault func(op string, n int) *Error
	// CompletionDelay is how long a completed snapshot stays pending.
	CompletionDelay time.Duration

	srv *httptest.Server
	mu  sync.Mutex
	// guarded by mu
	snapshots map[string]*Snapshot
	images    map[string]*Image
	counts    map[string]int
	faults    map[string]int
	seq       int
	errs      []string
}

// New starts a server for region on 127.0.0.1 and stops it when the test
// ends.
func New(t testing.TB, region string) *Server {
	s := &Server{
		Region:    region,
		snapshots: map[string]*Snapshot{},
		images:    map[string]*Image{},
		counts:    map[string]int{},
		faults:    map[string]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// SetFault sets Fault under the server's lock.
func (s *Server) SetFault(f func(op string, n int) *Error) {
	s.mu.Lock()
	s.Fault = f
	s.mu.Unlock()
}

// Snapshots returns copies of every snapshot that exists, by ID.
func (s *Server) Snapshots() map[string]Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Snapshot{}
	for id, sn := range s.snapshots {
		s.settle(sn)
		c := *sn
		c.Blocks = map[int64][]byte{}
		for i, b := range sn.Blocks {
			c.Blocks[i] = b
		}
		out[id] = c
	}
	return out
}

// Images returns copies of every registered image, by ID.
func (s *Server) Images() map[string]Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Image{}
	for id, im := range s.images {
		out[id] = *im
	}
	return out
}

// Requests returns how many requests for op arrived (faulted ones included).
func (s *Server) Requests(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// Faulted returns how many requests for op were answered by Fault.
func (s *Server) Faulted(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults[op]
}

// Rejected returns the requests the server refused for a reason other than
// Fault (bad signature, bad checksum, ...), one line each.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

func (s *Server) newID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%017x", prefix, 0xb007a99000+s.seq)
}

// settle moves a snapshot past its completion delay.
func (s *Server) settle(sn *Snapshot) {
	if sn.Status == "pending" && !sn.completeAt.IsZero() && !time.Now().Before(sn.completeAt) {
		sn.Status = "completed"
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	service, aerr := s.verify(r, body)
	if aerr != nil {
		s.reject(r.Method+" "+r.URL.Path, aerr)
		if strings.HasPrefix(r.URL.Path, "/snapshots") {
			writeJSONError(w, aerr)
		} else {
			writeXMLError(w, aerr)
		}
		return
	}
	switch service {
	case "ebs":
		s.serveEBS(w, r, body)
	case "ec2":
		s.serveEC2(w, r, body)
	default:
		writeXMLError(w, &Error{Status: 400, Code: "InvalidAction", Message: "unknown service " + service})
	}
}

func (s *Server) reject(what string, e *Error) {
	s.mu.Lock()
	s.errs = append(s.errs, what+": "+e.Error())
	s.mu.Unlock()
}

// fault counts a request for op and returns the injected answer, if any.
func (s *Server) fault(op string) *Error {
	s.mu.Lock()
	n := s.counts[op]
	s.counts[op]++
	f := s.Fault
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	e := f(op, n)
	if e != nil {
		s.mu.Lock()
		s.faults[op]++
		s.mu.Unlock()
	}
	return e
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$`)

// verify checks the request's SigV4 signature and returns the service it
// was signed for.
func (s *Server) verify(r *http.Request, body []byte) (string, *Error) {
	auth := r.Header.Get("Authorization")
	m := authRE.FindStringSubmatch(auth)
	if m == nil {
		return "", &Error{Status: 403, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"}
	}
	akid, date, region, service, signed, sig := m[1], m[2], m[3], m[4], m[5], m[6]
	if akid != AccessKeyID {
		code := "AuthFailure"
		if service == "ebs" {
			code = "UnrecognizedClientException"
		}
		return "", &Error{Status: 403, Code: code, Message: "The security token included in the request is invalid."}
	}
	if region != s.Region {
		return "", &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", region)}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, date) {
		return "", &Error{Status: 403, Code: "IncompleteSignature", Message: "bad X-Amz-Date " + amzDate}
	}
	if d := time.Since(t); d > 15*time.Minute || d < -15*time.Minute {
		return "", &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: "Signature expired"}
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		h := sha256.Sum256(body)
		payload = hex.EncodeToString(h[:])
	}
	var ch strings.Builder
	names := strings.Split(signed, ";")
	if !sort.StringsAreSorted(names) {
		return "", &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: "signed headers are not sorted"}
	}
	hasHost := false
	for _, n := range names {
		var v string
		switch n {
		case "host":
			v, hasHost = r.Host, true
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(r.Header.Values(n), ",")
		}
		ch.WriteString(n + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	if !hasHost {
		return "", &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: "host is not signed"}
	}
	canonical := strings.Join([]string{
		r.Method,
		canonicalPath(r.URL),
		canonicalQuery(r.URL.Query()),
		ch.String(),
		signed,
		payload,
	}, "\n")
	scope := date + "/" + region + "/" + service + "/aws4_request"
	hc := sha256.Sum256([]byte(canonical))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(hc[:])
	key := hmacSHA256([]byte("AWS4"+SecretAccessKey), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, sts))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "", &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match the signature you provided."}
	}
	return service, nil
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// sigv4Escape is SigV4's URI encoding: everything but A-Z a-z 0-9 - _ . ~.
func sigv4Escape(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	// Services other than S3 encode the already escaped path once more.
	return sigv4Escape(p, true)
}

func canonicalQuery(q url.Values) string {
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, sigv4Escape(k, false)+"="+sigv4Escape(v, false))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

// EBS direct APIs (REST-JSON).

var (
	blockPathRE    = regexp.MustCompile(`^/snapshots/(snap-[0-9a-f]+)/blocks/(\d+)$`)
	blocksPathRE   = regexp.MustCompile(`^/snapshots/(snap-[0-9a-f]+)/blocks$`)
	completePathRE = regexp.MustCompile(`^/snapshots/completion/(snap-[0-9a-f]+)$`)
)

func writeJSONError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	m := map[string]string{"message": e.Message}
	if e.Reason != "" {
		m["Reason"] = e.Reason
	}
	json.NewEncoder(w).Encode(m)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func validation(reason, format string, args ...any) *Error {
	return &Error{Status: 400, Code: "ValidationException", Message: fmt.Sprintf(format, args...), Reason: reason}
}

func notFound(id string) *Error {
	return &Error{Status: 404, Code: "ResourceNotFoundException", Message: "The snapshot '" + id + "' does not exist.", Reason: "SNAPSHOT_NOT_FOUND"}
}

func (s *Server) serveEBS(w http.ResponseWriter, r *http.Request, body []byte) {
	p := r.URL.Path
	var op string
	var m []string
	switch {
	case r.Method == http.MethodPost && p == "/snapshots":
		op = "StartSnapshot"
	case r.Method == http.MethodPut && blockPathRE.MatchString(p):
		op, m = "PutSnapshotBlock", blockPathRE.FindStringSubmatch(p)
	case r.Method == http.MethodGet && blockPathRE.MatchString(p):
		op, m = "GetSnapshotBlock", blockPathRE.FindStringSubmatch(p)
	case r.Method == http.MethodGet && blocksPathRE.MatchString(p):
		op, m = "ListSnapshotBlocks", blocksPathRE.FindStringSubmatch(p)
	case r.Method == http.MethodPost && completePathRE.MatchString(p):
		op, m = "CompleteSnapshot", completePathRE.FindStringSubmatch(p)
	default:
		writeJSONError(w, validation("INVALID_PARAMETER_VALUE", "no EBS operation %s %s", r.Method, p))
		return
	}
	if e := s.fault(op); e != nil {
		writeJSONError(w, e)
		return
	}
	var e *Error
	switch op {
	case "StartSnapshot":
		e = s.startSnapshot(w, body)
	case "PutSnapshotBlock":
		e = s.putBlock(w, r, m[1], m[2], body)
	case "GetSnapshotBlock":
		e = s.getBlock(w, r, m[1], m[2])
	case "ListSnapshotBlocks":
		e = s.listBlocks(w, r, m[1])
	case "CompleteSnapshot":
		e = s.completeSnapshot(w, r, m[1])
	}
	if e != nil {
		s.reject(op, e)
		writeJSONError(w, e)
	}
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func (s *Server) startSnapshot(w http.ResponseWriter, body []byte) *Error {
	var in struct {
		VolumeSize       *int64 `json:"VolumeSize"`
		Description      string `json:"Description"`
		ClientToken      string `json:"ClientToken"`
		Tags             []tag  `json:"Tags"`
		Timeout          *int   `json:"Timeout"`
		ParentSnapshotID string `json:"ParentSnapshotId"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation("INVALID_PARAMETER_VALUE", "body: %v", err)
	}
	if in.VolumeSize == nil || *in.VolumeSize < 1 || *in.VolumeSize > MaxVolumeSize {
		return validation("INVALID_VOLUME_SIZE", "VolumeSize must be between 1 and %d GiB", MaxVolumeSize)
	}
	if in.ParentSnapshotID != "" {
		return validation("INVALID_PARAMETER_VALUE", "this server supports no parent snapshots")
	}
	if in.Timeout != nil && (*in.Timeout < 10 || *in.Timeout > 4320) {
		return validation("INVALID_PARAMETER_VALUE", "Timeout must be between 10 and 4320 minutes")
	}
	s.mu.Lock()
	var sn *Snapshot
	if in.ClientToken != "" {
		for _, x := range s.snapshots {
			if x.clientToken == in.ClientToken {
				sn = x
			}
		}
	}
	if sn == nil {
		sn = &Snapshot{ID: s.newID("snap"), Status: "pending", VolumeSize: *in.VolumeSize, Description: in.Description,
			Tags: map[string]string{}, Blocks: map[int64][]byte{}, clientToken: in.ClientToken}
		for _, t := range in.Tags {
			sn.Tags[t.Key] = t.Value
		}
		s.snapshots[sn.ID] = sn
	}
	out := map[string]any{
		"SnapshotId": sn.ID, "OwnerId": AccountID, "Status": sn.Status, "VolumeSize": sn.VolumeSize,
		"BlockSize": BlockSize, "Description": sn.Description, "StartTime": float64(time.Now().Unix()),
		"SseType": "sse-ebs", "Tags": in.Tags,
	}
	s.mu.Unlock()
	writeJSON(w, 201, out)
	return nil
}

func (s *Server) putBlock(w http.ResponseWriter, r *http.Request, id, index string, body []byte) *Error {
	idx, err := strconv.ParseInt(index, 10, 64)
	if err != nil || idx < 0 {
		return validation("INVALID_BLOCK", "block index %q", index)
	}
	if n := r.Header.Get("X-Amz-Data-Length"); n != strconv.Itoa(BlockSize) {
		return validation("INVALID_PARAMETER_VALUE", "x-amz-Data-Length must be %d, not %q", BlockSize, n)
	}
	if len(body) != BlockSize {
		return validation("INVALID_PARAMETER_VALUE", "the body holds %d bytes, x-amz-Data-Length says %d", len(body), BlockSize)
	}
	if a := r.Header.Get("X-Amz-Checksum-Algorithm"); a != "SHA256" {
		return validation("INVALID_PARAMETER_VALUE", "x-amz-Checksum-Algorithm must be SHA256, not %q", a)
	}
	sum := sha256.Sum256(body)
	want := base64.StdEncoding.EncodeToString(sum[:])
	if got := r.Header.Get("X-Amz-Checksum"); got != want {
		return validation("INVALID_PARAMETER_VALUE", "x-amz-Checksum %q does not match the data (%s)", got, want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.snapshots[id]
	if !ok {
		return notFound(id)
	}
	if sn.Status != "pending" || !sn.completeAt.IsZero() {
		return validation("INVALID_SNAPSHOT_ID", "snapshot %s is not pending", id)
	}
	if idx >= sn.VolumeSize*(1<<30)/BlockSize {
		return validation("INVALID_BLOCK", "block %d is past the end of the %d GiB volume", idx, sn.VolumeSize)
	}
	sn.Blocks[idx] = body
	sn.Puts++
	w.Header().Set("X-Amz-Checksum", want)
	w.Header().Set("X-Amz-Checksum-Algorithm", "SHA256")
	writeJSON(w, 201, map[string]any{})
	return nil
}

func (s *Server) completeSnapshot(w http.ResponseWriter, r *http.Request, id string) *Error {
	n, err := strconv.ParseInt(r.Header.Get("X-Amz-ChangedBlocksCount"), 10, 64)
	if err != nil || n < 0 {
		return validation("INVALID_PARAMETER_VALUE", "x-amz-ChangedBlocksCount %q", r.Header.Get("X-Amz-ChangedBlocksCount"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.snapshots[id]
	if !ok {
		return notFound(id)
	}
	if sn.Status != "pending" {
		return validation("INVALID_SNAPSHOT_ID", "snapshot %s is %s", id, sn.Status)
	}
	if n != int64(len(sn.Blocks)) {
		return validation("INVALID_PARAMETER_VALUE", "ChangedBlocksCount is %d, but %d blocks were written", n, len(sn.Blocks))
	}
	sn.ChangedBlocksCount = n
	sn.completeAt = time.Now().Add(s.CompletionDelay)
	s.settle(sn)
	writeJSON(w, 202, map[string]any{"Status": sn.Status})
	return nil
}

func blockToken(id string, idx int64) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", id, idx)))
	return base64.StdEncoding.EncodeToString(h[:18])
}

func (s *Server) completed(id string) (*Snapshot, *Error) {
	sn, ok := s.snapshots[id]
	if !ok {
		return nil, notFound(id)
	}
	s.settle(sn)
	if sn.Status != "completed" {
		return nil, validation("INVALID_SNAPSHOT_ID", "snapshot %s is %s", id, sn.Status)
	}
	return sn, nil
}

func (s *Server) listBlocks(w http.ResponseWriter, r *http.Request, id string) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, e := s.completed(id)
	if e != nil {
		return e
	}
	q := r.URL.Query()
	max := 10000
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 10000 {
			return validation("INVALID_PARAMETER_VALUE", "maxResults %q", v)
		}
		max = n
	}
	start := int64(0)
	if v := q.Get("pageToken"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return validation("INVALID_PAGE_TOKEN", "pageToken %q", v)
		}
		start = n
	}
	if v := q.Get("startingBlockIndex"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > start {
			start = n
		}
	}
	var idx []int64
	for i := range sn.Blocks {
		if i >= start {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	out := map[string]any{"BlockSize": BlockSize, "VolumeSize": sn.VolumeSize, "ExpiryTime": float64(time.Now().Add(time.Hour).Unix())}
	if len(idx) > max {
		out["NextToken"] = strconv.FormatInt(idx[max], 10)
		idx = idx[:max]
	}
	blocks := []map[string]any{}
	for _, i := range idx {
		blocks = append(blocks, map[string]any{"BlockIndex": i, "BlockToken": blockToken(id, i)})
	}
	out["Blocks"] = blocks
	writeJSON(w, 200, out)
	return nil
}

func (s *Server) getBlock(w http.ResponseWriter, r *http.Request, id, index string) *Error {
	idx, err := strconv.ParseInt(index, 10, 64)
	if err != nil {
		return validation("INVALID_BLOCK", "block index %q", index)
	}
	s.mu.Lock()
	sn, e := s.completed(id)
	var data []byte
	if e == nil {
		data = sn.Blocks[idx]
		if data == nil || r.URL.Query().Get("blockToken") != blockToken(id, idx) {
			e = validation("INVALID_BLOCK_TOKEN", "no block %d with that token in %s", idx, id)
		}
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	sum := sha256.Sum256(data)
	w.Header().Set("X-Amz-Data-Length", strconv.Itoa(len(data)))
	w.Header().Set("X-Amz-Checksum", base64.StdEncoding.EncodeToString(sum[:]))
	w.Header().Set("X-Amz-Checksum-Algorithm", "SHA256")
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(200)
	w.Write(data)
	return nil
}

// EC2 (Query protocol, XML).

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

func writeXMLError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
		xmlEscape(e.Code), xmlEscape(e.Message), "00000000-b007-a990-0000-000000000000")
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func writeXML(w http.ResponseWriter, action, inner string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(200)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<%sResponse xmlns="%s"><requestId>00000000-b007-a990-0000-000000000001</requestId>%s</%sResponse>`, action, ec2NS, inner, action)
}

func (s *Server) serveEC2(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeXMLError(w, &Error{Status: 400, Code: "InvalidAction", Message: r.Method + " " + r.URL.Path})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeXMLError(w, &Error{Status: 400, Code: "MalformedQueryString", Message: err.Error()})
		return
	}
	action := form.Get("Action")
	if form.Get("Version") != "2016-11-15" {
		writeXMLError(w, &Error{Status: 400, Code: "InvalidParameterValue", Message: "Version " + form.Get("Version")})
		return
	}
	if e := s.fault(action); e != nil {
		writeXMLError(w, e)
		return
	}
	var e *Error
	switch action {
	case "RegisterImage":
		e = s.registerImage(w, form)
	case "DescribeImages":
		e = s.describeImages(w, form)
	case "DeregisterImage":
		e = s.deregisterImage(w, form)
	case "DescribeSnapshots":
		e = s.describeSnapshots(w, form)
	case "DeleteSnapshot":
		e = s.deleteSnapshot(w, form)
	default:
		e = &Error{Status: 400, Code: "InvalidAction", Message: "The action " + action + " is not valid for this web service."}
	}
	if e != nil {
		s.reject(action, e)
		writeXMLError(w, e)
	}
}

// list returns the values of prefix.1, prefix.2, ... (with suffix).
func list(form url.Values, prefix, suffix string) []string {
	var out []string
	for i := 1; ; i++ {
		k := fmt.Sprintf("%s.%d%s", prefix, i, suffix)
		if _, ok := form[k]; !ok {
			return out
		}
		out = append(out, form.Get(k))
	}
}

var amiNameRE = regexp.MustCompile(`^[A-Za-z0-9()\[\] ./'@_-]{3,128}$`)

func invalidParam(format string, args ...any) *Error {
	return &Error{Status: 400, Code: "InvalidParameterValue", Message: fmt.Sprintf(format, args...)}
}

func (s *Server) registerImage(w http.ResponseWriter, form url.Values) *Error {
	im := &Image{
		Name: form.Get("Name"), Description: form.Get("Description"), State: "available",
		Architecture: form.Get("Architecture"), BootMode: form.Get("BootMode"),
		EnaSupport: form.Get("EnaSupport") == "true", ImdsSupport: form.Get("ImdsSupport"),
		RootDeviceName: form.Get("RootDeviceName"), VirtualizationType: form.Get("VirtualizationType"),
		Tags: map[string]string{},
	}
	if !amiNameRE.MatchString(im.Name) {
		return invalidParam("Invalid AMI name %q", im.Name)
	}
	if im.Architecture == "" {
		im.Architecture = "x86_64"
	}
	if im.VirtualizationType == "" {
		im.VirtualizationType = "paravirtual"
	}
	for _, v := range []struct{ name, val, ok string }{
		{"Architecture", im.Architecture, "i386 x86_64 arm64 x86_64_mac arm64_mac"},
		{"BootMode", im.BootMode, " legacy-bios uefi uefi-preferred"},
		{"VirtualizationType", im.VirtualizationType, "hvm paravirtual"},
		{"ImdsSupport", im.ImdsSupport, " v2.0"},
	} {
		if !strings.Contains(" "+v.ok+" ", " "+v.val+" ") {
			return invalidParam("Value (%s) for parameter %s is invalid", v.val, v.name)
		}
	}
	if im.RootDeviceName == "" {
		return &Error{Status: 400, Code: "MissingParameter", Message: "The request must contain the parameter RootDeviceName"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, dev := range list(form, "BlockDeviceMapping", ".DeviceName") {
		p := fmt.Sprintf("BlockDeviceMapping.%d.Ebs.", i+1)
		m := Mapping{DeviceName: dev, SnapshotID: form.Get(p + "SnapshotId"), VolumeType: form.Get(p + "VolumeType"),
			DeleteOnTermination: form.Get(p+"DeleteOnTermination") != "false"}
		sn, ok := s.snapshots[m.SnapshotID]
		if !ok {
			return &Error{Status: 400, Code: "InvalidSnapshot.NotFound", Message: fmt.Sprintf("The snapshot '%s' does not exist.", m.SnapshotID)}
		}
		s.settle(sn)
		if sn.Status != "completed" {
			return &Error{Status: 400, Code: "IncorrectState", Message: fmt.Sprintf("Snapshot %s is in invalid state - %s", sn.ID, sn.Status)}
		}
		m.VolumeSize = sn.VolumeSize
		if v := form.Get(p + "VolumeSize"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < sn.VolumeSize {
				return invalidParam("Volume of size %s is smaller than snapshot '%s', expect size >= %d", v, sn.ID, sn.VolumeSize)
			}
			m.VolumeSize = n
		}
		im.Mappings = append(im.Mappings, m)
	}
	root := false
	for _, m := range im.Mappings {
		root = root || m.DeviceName == im.RootDeviceName
	}
	if !root {
		return invalidParam("The root device name %s has no block device mapping with a snapshot", im.RootDeviceName)
	}
	for _, x := range s.images {
		if x.Name == im.Name {
			return &Error{Status: 400, Code: "InvalidAMIName.Duplicate", Message: fmt.Sprintf("AMI name %s is already in use by AMI %s", im.Name, x.ID)}
		}
	}
	for i, rt := range list(form, "TagSpecification", ".ResourceType") {
		if rt != "image" {
			return invalidParam("'%s' is not a valid taggable resource type for this operation.", rt)
		}
		p := fmt.Sprintf("TagSpecification.%d.Tag", i+1)
		keys := list(form, p, ".Key")
		for j, k := range keys {
			im.Tags[k] = form.Get(fmt.Sprintf("%s.%d.Value", p, j+1))
		}
	}
	im.ID = s.newID("ami")
	s.images[im.ID] = im
	writeXML(w, "RegisterImage", "<imageId>"+im.ID+"</imageId>")
	return nil
}

func tagSet(tags map[string]string) string {
	var keys []string
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("<tagSet>")
	for _, k := range keys {
		fmt.Fprintf(&b, "<item><key>%s</key><value>%s</value></item>", xmlEscape(k), xmlEscape(tags[k]))
	}
	b.WriteString("</tagSet>")
	return b.String()
}

func (s *Server) describeImages(w http.ResponseWriter, form url.Values) *Error {
	ids := list(form, "ImageId", "")
	owners := list(form, "Owner", "")
	names := map[string]bool{}
	for i, f := range list(form, "Filter", ".Name") {
		vals := list(form, fmt.Sprintf("Filter.%d.Value", i+1), "")
		switch f {
		case "name":
			for _, v := range vals {
				names[v] = true
			}
		default:
			return invalidParam("The filter '%s' is invalid", f)
		}
	}
	for _, o := range owners {
		if o != "self" && o != AccountID {
			return invalidParam("Invalid owner %q", o)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString("<imagesSet>")
	var sel []*Image
	if len(ids) > 0 {
		for _, id := range ids {
			im, ok := s.images[id]
			if !ok {
				return &Error{Status: 400, Code: "InvalidAMIID.NotFound", Message: fmt.Sprintf("The image id '[%s]' does not exist", id)}
			}
			sel = append(sel, im)
		}
	} else {
		for _, im := range s.images {
			sel = append(sel, im)
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].ID < sel[j].ID })
	for _, im := range sel {
		if len(names) > 0 && !names[im.Name] {
			continue
		}
		fmt.Fprintf(&b, "<item><imageId>%s</imageId><imageState>%s</imageState><imageOwnerId>%s</imageOwnerId><isPublic>false</isPublic>"+
			"<architecture>%s</architecture><imageType>machine</imageType><name>%s</name><description>%s</description>"+
			"<rootDeviceType>ebs</rootDeviceType><rootDeviceName>%s</rootDeviceName><virtualizationType>%s</virtualizationType>"+
			"<hypervisor>xen</hypervisor><enaSupport>%t</enaSupport><bootMode>%s</bootMode>",
			im.ID, im.State, AccountID, im.Architecture, xmlEscape(im.Name), xmlEscape(im.Description),
			xmlEscape(im.RootDeviceName), im.VirtualizationType, im.EnaSupport, im.BootMode)
		if im.ImdsSupport != "" {
			fmt.Fprintf(&b, "<imdsSupport>%s</imdsSupport>", im.ImdsSupport)
		}
		b.WriteString("<blockDeviceMapping>")
		for _, m := range im.Mappings {
			fmt.Fprintf(&b, "<item><deviceName>%s</deviceName><ebs><snapshotId>%s</snapshotId><volumeSize>%d</volumeSize>"+
				"<deleteOnTermination>%t</deleteOnTermination><volumeType>%s</volumeType><encrypted>false</encrypted></ebs></item>",
				xmlEscape(m.DeviceName), m.SnapshotID, m.VolumeSize, m.DeleteOnTermination, m.VolumeType)
		}
		b.WriteString("</blockDeviceMapping>")
		b.WriteString(tagSet(im.Tags))
		b.WriteString("</item>")
	}
	b.WriteString("</imagesSet>")
	writeXML(w, "DescribeImages", b.String())
	return nil
}

func (s *Server) deregisterImage(w http.ResponseWriter, form url.Values) *Error {
	id := form.Get("ImageId")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[id]; !ok {
		return &Error{Status: 400, Code: "InvalidAMIID.NotFound", Message: fmt.Sprintf("The image id '[%s]' does not exist", id)}
	}
	delete(s.images, id)
	writeXML(w, "DeregisterImage", "<return>true</return>")
	return nil
}

func (s *Server) describeSnapshots(w http.ResponseWriter, form url.Values) *Error {
	ids := list(form, "SnapshotId", "")
	s.mu.Lock()
	defer s.mu.Unlock()
	var sel []*Snapshot
	if len(ids) > 0 {
		for _, id := range ids {
			sn, ok := s.snapshots[id]
			if !ok {
				return &Error{Status: 400, Code: "InvalidSnapshot.NotFound", Message: fmt.Sprintf("The snapshot '%s' does not exist.", id)}
			}
			sel = append(sel, sn)
		}
	} else {
		for _, sn := range s.snapshots {
			sel = append(sel, sn)
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].ID < sel[j].ID })
	var b strings.Builder
	b.WriteString("<snapshotSet>")
	for _, sn := range sel {
		s.settle(sn)
		progress := "0%"
		if sn.Status == "completed" {
			progress = "100%"
		}
		fmt.Fprintf(&b, "<item><snapshotId>%s</snapshotId><volumeId>vol-ffffffff</volumeId><status>%s</status>"+
			"<startTime>%s</startTime><progress>%s</progress><ownerId>%s</ownerId><volumeSize>%d</volumeSize>"+
			"<description>%s</description><encrypted>false</encrypted>%s</item>",
			sn.ID, sn.Status, time.Now().UTC().Format(time.RFC3339), progress, AccountID, sn.VolumeSize, xmlEscape(sn.Description), tagSet(sn.Tags))
	}
	b.WriteString("</snapshotSet>")
	writeXML(w, "DescribeSnapshots", b.String())
	return nil
}

func (s *Server) deleteSnapshot(w http.ResponseWriter, form url.Values) *Error {
	id := form.Get("SnapshotId")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.snapshots[id]; !ok {
		return &Error{Status: 400, Code: "InvalidSnapshot.NotFound", Message: fmt.Sprintf("The snapshot '%s' does not exist.", id)}
	}
	for _, im := range s.images {
		for _, m := range im.Mappings {
			if m.SnapshotID == id {
				return &Error{Status: 400, Code: "InvalidSnapshot.InUse", Message: fmt.Sprintf("The snapshot %s is currently in use by %s", id, im.ID)}
			}
		}
	}
	delete(s.snapshots, id)
	writeXML(w, "DeleteSnapshot", "<return>true</return>")
	return nil
}

// IsolateEnv clears every AWS_* variable the SDK reads, points the shared
// config and credentials files at files that do not exist and switches
// IMDS off, so that a test sees no credentials, region or endpoint of the
// machine and sends nothing to 169.254.169.254.
func IsolateEnv(t testing.TB) {
	t.Helper()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_EBS",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/no-config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/no-credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Env returns the environment (NAME=VALUE) that points the AWS SDK at the
// server with its key pair and region, for a child process. Combine it with
// IsolateEnv's settings, which a child inherits.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_REGION=" + s.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}
