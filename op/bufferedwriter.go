package op

import (
	"bytes"
	"net/http"
	"strconv"
)

// A BufferedWriter holds a response's status and body until the handler
// is done, for a wrapper that rewrites the answer (the header is the
// underlying writer's). Protocol responses are small.
type BufferedWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *BufferedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *BufferedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// Status is the status the handler answered: 200 when it wrote nothing.
func (w *BufferedWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Body is the body the handler wrote.
func (w *BufferedWriter) Body() []byte { return w.body.Bytes() }

// send writes the held answer to the underlying writer, its body passed
// through rewrite first when the status is 200.
func (w *BufferedWriter) send(rewrite func([]byte) []byte) {
	body := w.Body()
	if w.Status() == http.StatusOK {
		body = rewrite(body)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.ResponseWriter.WriteHeader(w.Status())
	w.ResponseWriter.Write(body)
}
