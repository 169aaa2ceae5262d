// Package amqp1 is Switchyard's AMQP 1.0 driver.
package amqp1
