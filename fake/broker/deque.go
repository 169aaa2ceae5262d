package broker

// deque is a double-ended queue on a ring buffer.
type deque[T any] struct {
	buf  []T
	head int
	n    int
}

// Len returns the number of elements.
func (d *deque[T]) Len() int { return d.n }

func (d *deque[T]) grow() {
	size := max(16, 2*len(d.buf))
	nb := make([]T, size)
	for i := range d.n {
		nb[i] = d.buf[(d.head+i)%len(d.buf)]
	}
	d.buf, d.head = nb, 0
}

// PushBack appends v at the tail.
func (d *deque[T]) PushBack(v T) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.buf[(d.head+d.n)%len(d.buf)] = v
	d.n++
}

// PushFront inserts v at the head.
func (d *deque[T]) PushFront(v T) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.head = (d.head - 1 + len(d.buf)) % len(d.buf)
	d.buf[d.head] = v
	d.n++
}

// Front returns the head; the deque must not be empty.
func (d *deque[T]) Front() T { return d.buf[d.head] }

// At returns the i-th element from the head.
func (d *deque[T]) At(i int) T { return d.buf[(d.head+i)%len(d.buf)] }

// Swap exchanges the i-th and j-th elements from the head.
func (d *deque[T]) Swap(i, j int) {
	a, b := (d.head+i)%len(d.buf), (d.head+j)%len(d.buf)
	d.buf[a], d.buf[b] = d.buf[b], d.buf[a]
}

// PopFront removes and returns the head; the deque must not be empty.
func (d *deque[T]) PopFront() T {
	var zero T
	v := d.buf[d.head]
	d.buf[d.head] = zero
	d.head = (d.head + 1) % len(d.buf)
	d.n--
	if d.n == 0 {
		d.head = 0
		if len(d.buf) > 1024 {
			d.buf = nil // give back the memory of a queue that drained
		}
	}
	return v
}

// Clear removes every element.
func (d *deque[T]) Clear() {
	*d = deque[T]{}
}
