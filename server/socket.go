package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/seed-3a5b824e/assent/push"
)

// Socket limits (DESIGN.md, wire protocol 3); the ping pace is in Options.
const (
	writeTimeout = 10 * time.Second
	// frameTimeout is how long a frame may take to arrive whole once its
	// first byte has: a device writes a frame at once, and a socket that
	// starts one and stalls is closed rather than held.
	frameTimeout = 10 * time.Second
	// sendQueue messages may wait for a slow device; past that the
	// connection is dropped rather than holding up anyone else. The device
	// catches up through the pending list when it reconnects.
	sendQueue = 32
)

// conn is one device WebSocket, after the upgrade: frames are read and
// written on the TCP connection itself (gobwas/ws reads and writes them,
// without a buffer of their own).
//
// An idle connection costs a reader goroutine with the smallest stack the
// runtime gives (2 KB) and a few hundred bytes of heap: the reader waits
// for one byte and hands the frame it starts to a goroutine of its own
// (readLoop); messages for the device wait in a queue, and a writer
// goroutine runs only while there is something to write, so that there is
// never more than one writer.
type conn struct {
	deviceID string
	nc       net.Conn
	ip       string
	// heardAt is when the device last sent a frame (Unix nanoseconds);
	// the pinger closes a socket silent for the idle timeout.
	heardAt atomic.Int64
	bad     int     // frames the reader could not use
	first   [1]byte // the byte the reader waited for: the next frame's first

	mu        sync.Mutex
	queue     []outFrame
	writing   bool
	closing   bool // close once the queue is written
	closed    bool
	closeCode ws.StatusCode // what the close frame says (default: going away)
	closeWhy  string
	// pre is written with the first frame, in the same write: the
	// handshake's answer (heldHandshake).
	pre atomic.Pointer[[]byte]
}

// outFrame is a message for the device, or a control frame (msg nil).
type outFrame struct {
	msg     *push.Message
	control ws.OpCode // ping or pong when msg is nil
	data    []byte    // a pong's payload: the ping's
}

func newConn(nc net.Conn, ip string) *conn {
	c := &conn{nc: nc, ip: ip}
	c.heard()
	return c
}

// heard notes that the device is there.
func (c *conn) heard() { c.heardAt.Store(time.Now().UnixNano()) }

// silentFor is how long the device has said nothing.
func (c *conn) silentFor(now time.Time) time.Duration {
	return time.Duration(now.UnixNano() - c.heardAt.Load())
}

// enqueue hands msg to the writer without blocking; a full queue drops
// the connection.
func (c *conn) enqueue(msg *push.Message) bool { return c.push(outFrame{msg: msg}) }

func (c *conn) push(f outFrame) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closing {
		return false
	}
	if len(c.queue) >= sendQueue {
		c.shutLocked()
		return false
	}
	c.queue = append(c.queue, f)
	if !c.writing {
		c.writing = true
		go c.write()
	}
	return true
}

// write is the connection's one writer while it runs.
func (c *conn) write() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.writing, c.queue = false, nil
			if c.closing {
				c.shutLocked()
			}
			c.mu.Unlock()
			return
		}
		f := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()
		var err error
		if f.msg == nil {
			err = c.writeFrame(f.control, f.data, writeTimeout)
		} else if p, jerr := json.Marshal(f.msg); jerr != nil {
			err = jerr
		} else {
			err = c.writeFrame(ws.OpText, p, writeTimeout)
		}
		if err != nil {
			c.mu.Lock()
			c.shutLocked()
			c.mu.Unlock()
		}
	}
}

// frameBuf is where a frame is put together, header and payload, to go
// out in one write.
type frameBuf struct {
	hdr [ws.MaxHeaderSize]byte
	b   bytes.Buffer
}

var frameBufs = sync.Pool{New: func() any { return new(frameBuf) }}

// writeFrame writes one unfragmented, unmasked frame in one system call
// (the first one with what pre holds before it).
func (c *conn) writeFrame(op ws.OpCode, p []byte, timeout time.Duration) error {
	fb := frameBufs.Get().(*frameBuf)
	defer func() {
		if fb.b.Cap() <= 2*push.MaxMessageSize {
			frameBufs.Put(fb)
		}
	}()
	fb.b.Reset()
	if pre := c.pre.Swap(nil); pre != nil {
		fb.b.Write(*pre)
	}
	if err := ws.WriteHeaderBuffer(&fb.b, ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}, fb.hdr[:]); err != nil {
		return err
	}
	fb.b.Write(p)
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(fb.b.Bytes())
	return err
}

// close says goodbye once what is queued (an error that explains the
// close, say) is written.
func (c *conn) close() { c.closeWith(ws.StatusGoingAway, "server closing") }

// closeWith is close with the close frame's code and reason.
func (c *conn) closeWith(code ws.StatusCode, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closing {
		return
	}
	c.closing, c.closeCode, c.closeWhy = true, code, why
	if !c.writing {
		c.shutLocked()
	}
}

// gone closes a socket whose TCP connection has ended (or failed) under
// the reader, without a close frame: nothing would read it.
func (c *conn) gone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.nc.Close()
	}
}

func (c *conn) shutLocked() {
	if c.closed {
		return
	}
	c.closed = true
	code, why := c.closeCode, c.closeWhy
	if code == 0 {
		code, why = ws.StatusGoingAway, "server closing"
	}
	_ = c.writeFrame(ws.OpClose, ws.NewCloseFrameBody(code, why), time.Second)
	c.nc.Close()
}

// Why the reader stopped, where the device could not have said.
var (
	errFrameTooBig = errors.New("frame over the size limit")
	errPeerClosed  = errors.New("the device closed the socket")
)

// readData reads frames from r (hdr: room for a frame header, or nil)
// until a whole data message has come (its fragments joined), answering
// pings and noting pongs on the way; with
// controlEnds, a control frame that comes before any data ends it too
// (nil data, nil error). A frame the protocol forbids, or a message over
// push.MaxMessageSize, is an error, after which the socket is closed with
// the close code the device is owed.
func (c *conn) readData(r io.Reader, hdr []byte, controlEnds bool) (op ws.OpCode, data []byte, err error) {
	if hdr == nil {
		hdr = make([]byte, ws.MaxHeaderSize)
	}
	state := ws.StateServerSide
	for {
		h, err := ws.ReadHeaderBuffer(r, hdr)
		if errors.Is(err, ws.ErrHeaderLengthMSB) || errors.Is(err, ws.ErrHeaderLengthUnexpected) {
			c.closeWith(ws.StatusProtocolError, err.Error())
			return 0, nil, err
		} else if err != nil {
			return 0, nil, err
		}
		if err := ws.CheckHeader(h, state); err != nil {
			c.closeWith(ws.StatusProtocolError, err.Error())
			return 0, nil, err
		}
		if h.OpCode.IsData() || h.OpCode == ws.OpContinuation {
			if h.Length > int64(push.MaxMessageSize-len(data)) {
				c.closeWith(ws.StatusMessageTooBig, "message too big")
				return 0, nil, errFrameTooBig
			}
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(r, p); err != nil {
			return 0, nil, err
		}
		ws.Cipher(p, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPing:
			c.heard()
			c.push(outFrame{control: ws.OpPong, data: p})
		case ws.OpPong:
			c.heard()
		case ws.OpClose:
			// Echo its code, as RFC 6455 has it (one the device may not
			// send is a protocol error; none at all is a normal close).
			code, _ := ws.ParseCloseFrameData(p)
			if code == 0 {
				code = ws.StatusNormalClosure
			} else if ws.CheckCloseFrameData(code, "") != nil {
				code = ws.StatusProtocolError
			}
			c.closeWith(code, "")
			return 0, nil, errPeerClosed
		default: // data, or the continuation of a message
			if h.OpCode != ws.OpContinuation {
				op = h.OpCode
			}
			if data == nil && h.Fin {
				data = p // the whole message, in one frame
			} else {
				data = append(data, p...)
			}
			if h.Fin {
				c.heard()
				if data == nil {
					data = []byte{}
				}
				return op, data, nil
			}
			state = state.Set(ws.StateFragmented)
			continue
		}
		if controlEnds && !state.Fragmented() {
			return 0, nil, nil
		}
	}
}

// decodeFrame reads one message from a device.
func decodeFrame(op ws.OpCode, data []byte) (push.Message, error) {
	var m push.Message
	if op != ws.OpText {
		return m, errors.New("binary frames are not part of the protocol; send JSON text")
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("frame is not a JSON message object: %v", err)
	}
	return m, nil
}
