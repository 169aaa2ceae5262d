package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// The store keeps durable state in one append-only log file, rewritten
// compactly each time it is opened or the broker restarts. Each record is
// a 4-byte length, a type octet and fields; a torn record at the end (from
// a crash mid-write) is ignored.
const logName = "broker.log"

// Record types.
const (
	recExchange     = 'E'
	recExchangeDel  = 'e'
	recQueue        = 'Q'
	recQueueDel     = 'q'
	recBind         = 'B'
	recUnbind       = 'b'
	recMessage      = 'M'
	recRemove       = 'D'
	recRedelivered  = 'R'
	maxRecordLength = 1 << 30
)

type store struct {
	dir    string
	f      *os.File
	w      *bufio.Writer
	nextID uint64
	dirty  bool
	err    error
	ids    map[*qentry]uint64
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data directory: %w", err)
	}
	return &store{dir: dir, ids: map[*qentry]uint64{}}, nil
}

func (s *store) close() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}

// write appends one record.
func (s *store) write(typ byte, fields []byte) {
	if s.f == nil || s.err != nil {
		return
	}
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(fields)+1))
	hdr[4] = typ
	s.w.Write(hdr[:])
	if _, err := s.w.Write(fields); err != nil {
		s.err = err
	}
	s.dirty = true
}

// flush makes every record written so far reach the file.
func (s *store) flush() {
	if !s.dirty || s.f == nil {
		return
	}
	s.dirty = false
	if err := s.w.Flush(); err != nil && s.err == nil {
		s.err = err
	}
}

// Field encoding.

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendTbl(b []byte, t amqp091.Table) []byte {
	out, err := amqp091.AppendTable(b, t)
	if err != nil {
		return append(b, 0, 0, 0, 0) // an empty table
	}
	return out
}

type fieldReader struct {
	b   []byte
	err error
}

func (r *fieldReader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errors.New("truncated record")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *fieldReader) u64() uint64 {
	v := r.bytes(8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (r *fieldReader) u8() byte {
	v := r.bytes(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (r *fieldReader) str() string {
	n := r.bytes(4)
	if n == nil {
		return ""
	}
	return string(r.bytes(int(binary.BigEndian.Uint32(n))))
}

func (r *fieldReader) tbl() amqp091.Table {
	n := r.bytes(4)
	if n == nil {
		return nil
	}
	size := int(binary.BigEndian.Uint32(n))
	body := r.bytes(size)
	if r.err != nil {
		return nil
	}
	t, err := amqp091.DecodeTable(append(append([]byte{}, n...), body...))
	if err != nil {
		r.err = err
	}
	return t
}

func flag(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// Records.

func exchangeRecord(e *exchange) []byte {
	b := appendStr(nil, e.vh.name)
	b = appendStr(b, e.name)
	b = appendStr(b, e.kind)
	b = append(b, flag(e.autoDelete), flag(e.internal))
	return appendTbl(b, e.args)
}

func (s *store) declareExchange(e *exchange) { s.write(recExchange, exchangeRecord(e)) }

func (s *store) deleteExchange(e *exchange) {
	s.write(recExchangeDel, appendStr(appendStr(nil, e.vh.name), e.name))
}

func queueRecord(q *queue) []byte {
	b := appendStr(nil, q.vh.name)
	b = appendStr(b, q.name)
	b = append(b, flag(q.autoDelete))
	return appendTbl(b, q.args)
}

func (s *store) declareQueue(q *queue) { s.write(recQueue, queueRecord(q)) }

func (s *store) deleteQueue(q *queue) {
	s.write(recQueueDel, appendStr(appendStr(nil, q.vh.name), q.name))
}

func bindingRecord(bd *binding) []byte {
	b := appendStr(nil, bd.src.vh.name)
	b = appendStr(b, bd.src.name)
	b = append(b, flag(bd.queue != nil))
	b = appendStr(b, bd.destName())
	b = appendStr(b, bd.key)
	return appendTbl(b, bd.args)
}

func (s *store) bind(bd *binding)   { s.write(recBind, bindingRecord(bd)) }
func (s *store) unbind(bd *binding) { s.write(recUnbind, bindingRecord(bd)) }

func (s *store) messageRecord(q *queue, e *qentry, id uint64) []byte {
	m := e.msg
	b := appendStr(nil, q.vh.name)
	b = appendStr(b, q.name)
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint64(b, uint64(e.expiresAt))
	b = append(b, flag(e.redelivered))
	b = appendStr(b, m.exchange)
	b = appendStr(b, m.routingKey)
	h := amqp091.ContentHeader{ClassID: amqp091.ClassBasic, BodySize: uint64(len(m.body)), Properties: *m.props}
	hb, err := h.MarshalBinary()
	if err != nil {
		hb = nil
	}
	b = appendStr(b, string(hb))
	return appendStr(b, string(m.body))
}

func (s *store) enqueue(q *queue, e *qentry) {
	s.nextID++
	s.ids[e] = s.nextID
	s.write(recMessage, s.messageRecord(q, e, s.nextID))
}

func (s *store) remove(q *queue, e *qentry) {
	id, ok := s.ids[e]
	if !ok {
		return
	}
	delete(s.ids, e)
	b := appendStr(nil, q.vh.name)
	b = appendStr(b, q.name)
	s.write(recRemove, binary.BigEndian.AppendUint64(b, id))
}

// forget drops what the store remembers of e without writing a record.
func (s *store) forget(e *qentry) { delete(s.ids, e) }

func (s *store) redelivered(q *queue, e *qentry) {
	id, ok := s.ids[e]
	if !ok {
		return
	}
	b := appendStr(nil, q.vh.name)
	b = appendStr(b, q.name)
	s.write(recRedelivered, binary.BigEndian.AppendUint64(b, id))
}

// Recovery.

type storedQueue struct {
	vh, name   string
	autoDelete bool
	args       amqp091.Table
	msgs       []*storedMsg
	byID       map[uint64]*storedMsg
}

type storedMsg struct {
	id                uint64
	expiresAt         int64
	redelivered, gone bool
	exchange, key     string
	props             amqp091.Properties
	body              []byte
}

type storedBinding struct {
	vh, src   string
	toQueue   bool
	dest, key string
	args      amqp091.Table
}

// readLog replays the log into the durable state it describes.
func readLog(path string) (exs map[[2]string][]byte, qs map[[2]string]*storedQueue, qorder [][2]string, binds []storedBinding, maxID uint64, err error) {
	exs = map[[2]string][]byte{}
	qs = map[[2]string]*storedQueue{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return exs, qs, nil, nil, 0, nil
	}
	if err != nil {
		return nil, nil, nil, nil, 0, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			break // end of log, or a torn length
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || n > maxRecordLength {
			break
		}
		rec := make([]byte, n)
		if _, err := io.ReadFull(br, rec); err != nil {
			break // torn record
		}
		r := &fieldReader{b: rec[1:]}
		switch rec[0] {
		case recExchange:
			vh, name := r.str(), r.str()
			if r.err == nil {
				exs[[2]string{vh, name}] = rec[1:]
			}
		case recExchangeDel:
			vh, name := r.str(), r.str()
			delete(exs, [2]string{vh, name})
			binds = dropBindings(binds, vh, name, false)
		case recQueue:
			vh, name := r.str(), r.str()
			ad := r.u8() == 1
			args := r.tbl()
			k := [2]string{vh, name}
			if r.err == nil {
				if _, ok := qs[k]; !ok {
					qorder = append(qorder, k)
				}
				qs[k] = &storedQueue{vh: vh, name: name, autoDelete: ad, args: args, byID: map[uint64]*storedMsg{}}
			}
		case recQueueDel:
			vh, name := r.str(), r.str()
			delete(qs, [2]string{vh, name})
			binds = dropBindings(binds, vh, name, true)
		case recBind, recUnbind:
			sb := storedBinding{vh: r.str(), src: r.str(), toQueue: r.u8() == 1, dest: r.str(), key: r.str(), args: r.tbl()}
			if r.err != nil {
				continue
			}
			i := -1
			for j, o := range binds {
				if o.vh == sb.vh && o.src == sb.src && o.toQueue == sb.toQueue && o.dest == sb.dest && o.key == sb.key && tablesEqual(o.args, sb.args) {
					i = j
					break
				}
			}
			if rec[0] == recBind && i < 0 {
				binds = append(binds, sb)
			} else if rec[0] == recUnbind && i >= 0 {
				binds = append(binds[:i], binds[i+1:]...)
			}
		case recMessage:
			vh, name := r.str(), r.str()
			m := &storedMsg{id: r.u64(), expiresAt: int64(r.u64()), redelivered: r.u8() == 1, exchange: r.str(), key: r.str()}
			hb := r.str()
			m.body = []byte(r.str())
			if r.err != nil {
				continue
			}
			var h amqp091.ContentHeader
			if err := h.UnmarshalBinary([]byte(hb)); err != nil {
				continue
			}
			m.props = h.Properties
			maxID = max(maxID, m.id)
			if q := qs[[2]string{vh, name}]; q != nil {
				q.msgs = append(q.msgs, m)
				q.byID[m.id] = m
			}
		case recRemove, recRedelivered:
			vh, name, id := r.str(), r.str(), r.u64()
			if q := qs[[2]string{vh, name}]; q != nil && r.err == nil {
				if m := q.byID[id]; m != nil {
					if rec[0] == recRemove {
						m.gone = true
						delete(q.byID, id)
					} else {
						m.redelivered = true
					}
				}
			}
		}
	}
	return exs, qs, qorder, binds, maxID, nil
}

func dropBindings(binds []storedBinding, vh, name string, queue bool) []storedBinding {
	out := binds[:0]
	for _, b := range binds {
		if b.vh == vh && ((queue && b.toQueue && b.dest == name) || (!queue && (b.src == name || (!b.toQueue && b.dest == name)))) {
			continue
		}
		out = append(out, b)
	}
	return out
}

// recover rebuilds durable state from the store into the (freshly reset)
// virtual hosts and rewrites the log compactly. Callers hold b.mu or own b.
func (b *Broker) recover() error {
	s := b.store
	if err := s.close(); err != nil {
		b.log.Warn("closing the data log", "err", err)
	}
	path := filepath.Join(s.dir, logName)
	exs, qs, qorder, binds, maxID, err := readLog(path)
	if err != nil {
		return fmt.Errorf("broker: read %s: %w", path, err)
	}
	s.nextID = max(s.nextID, maxID)
	s.ids = map[*qentry]uint64{}
	// Write the compacted log to a new file while rebuilding, then swap.
	tmp := path + ".new"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("broker: data log: %w", err)
	}
	s.f, s.w, s.err = f, bufio.NewWriterSize(f, 64<<10), nil
	for _, rec := range exs {
		r := &fieldReader{b: rec}
		vhName, name, kind := r.str(), r.str(), r.str()
		ad, internal := r.u8() == 1, r.u8() == 1
		args := r.tbl()
		vh := b.vhosts[vhName]
		if r.err != nil || vh == nil || vh.exchanges[name] != nil {
			continue
		}
		e := &exchange{vh: vh, name: name, kind: kind, durable: true, autoDelete: ad, internal: internal, args: args}
		vh.exchanges[name] = e
		s.declareExchange(e)
	}
	now := time.Now()
	for _, k := range qorder {
		sq := qs[k]
		if sq == nil {
			continue
		}
		vh := b.vhosts[sq.vh]
		if vh == nil || vh.queues[sq.name] != nil {
			continue
		}
		qa, perr := parseQueueArgs(sq.args, "queue")
		if perr != nil {
			continue
		}
		q := &queue{vh: vh, name: sq.name, durable: true, autoDelete: sq.autoDelete, args: sq.args, qa: qa, lastUsed: now}
		vh.queues[q.name] = q
		s.declareQueue(q)
		for _, sm := range sq.msgs {
			if sm.gone {
				continue
			}
			props := sm.props
			b.nextMsgID++
			m := &message{id: b.nextMsgID, exchange: sm.exchange, routingKey: sm.key, props: &props, body: sm.body,
				hash: bodyHash(sm.body), ttl: -1}
			e := &qentry{msg: m, seq: q.nextSeq, expiresAt: sm.expiresAt, redelivered: sm.redelivered, stored: true}
			q.nextSeq++
			q.msgs.PushBack(e)
			q.readyBytes += int64(len(m.body))
			s.enqueue(q, e)
		}
	}
	for _, sb := range binds {
		vh := b.vhosts[sb.vh]
		if vh == nil {
			continue
		}
		src := vh.exchanges[sb.src]
		if src == nil {
			continue
		}
		bd := &binding{src: src, key: sb.key, args: sb.args}
		if sb.toQueue {
			bd.queue = vh.queues[sb.dest]
			if bd.queue == nil {
				continue
			}
		} else {
			bd.dest = vh.exchanges[sb.dest]
			if bd.dest == nil {
				continue
			}
		}
		if src.kind == kindHeaders {
			bd.matchAll, bd.withX, _ = parseXMatch(sb.args)
		}
		if src.addBinding(bd) {
			s.bind(bd)
		}
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("broker: data log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("broker: data log: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("broker: data log: %w", err)
	}
	s.dirty = false
	for _, vh := range b.vhosts {
		for _, q := range vh.queues {
			b.armTTL(q)
			b.armExpiry(q)
		}
	}
	return nil
}
