package main

// The drivers the command can open, by URL scheme; importing a driver
// package registers its schemes.
import (
	_ "github.com/switchyard-dev/switchyard/drivers/amqp1"
	_ "github.com/switchyard-dev/switchyard/drivers/rabbit"
)
