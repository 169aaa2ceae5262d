Feature: Acknowledgement
  What "sent" means depends on the backend. A broker stores and forwards: a
  send returns once the broker has stored the message, before any listener
  has it. A router is direct: a send returns only once the consuming
  listener has accepted the message. A listener acknowledges what it has
  processed; an acknowledged message never comes back, an unacknowledged
  notification goes to another listener if its listener dies. Requeue is
  optional. Scenarios tagged @broker or @router apply to that kind of
  backend only.

  @C20 @broker
  Scenario: A notification send succeeds with no listener present
    When a client sends 1 notification with priority "info" to topic "audit" while nobody listens
    Then the send succeeded

  @C20 @broker @needs-faults
  Scenario: A send returns once the broker has stored the message, not before
    Given a listener "nova" on topic "compute"
    And a client that has already cast 1 message to topic "warmup"
    And the backend withholds its confirmations and its deliveries to listeners
    When that client casts 1 message to topic "compute" in the background
    Then the send has not returned after 1 second
    When the backend releases its confirmations
    Then the send succeeds within 1 second
    And "nova" receives no messages
    When the backend releases its deliveries
    Then "nova" receives exactly 1 message

  @C21 @router
  Scenario: A send returns only after the listener has accepted the message
    # Notifications, because an RPC server acknowledges a request as soon
    # as it takes it (before dispatching it, as oslo does).
    Given a notification listener "nova" on topic "audit" for priority "info" that holds messages without acknowledging
    When a client sends 1 notification with priority "info" to topic "audit" in the background
    Then "nova" receives exactly 1 message
    And the send has not returned after 1 second
    When "nova" acknowledges everything it holds
    Then the send succeeds within 1 second

  @C21 @router
  Scenario: A send with no listener fails within its deadline instead of reporting success
    When a client casts 1 message to topic "nobody-home" with retry 0 and a deadline of 2 seconds
    Then the send fails within 3 seconds

  @C21 @router
  Scenario: A send whose listener releases the message does not report success
    Given a notification listener "nova" on topic "audit" for priority "info" that requeues each message the first time it sees it
    When a client sends 1 notification with priority "info" to topic "audit" with retry 0 and a deadline of 2 seconds
    Then the send fails within 3 seconds, or "nova" receives it again after requeueing it

  @C29
  Scenario: An acknowledged notification is never delivered again
    Given a notification listener "a" on topic "audit" for priority "info"
    When a client sends 5 notifications with priority "info" to topic "audit"
    Then "a" receives exactly 5 notifications
    When listener "a" dies
    And a notification listener "b" on topic "audit" for priority "info" starts
    Then "b" receives no notifications

  @C29 @broker
  Scenario: An unacknowledged notification goes to another listener when its listener dies
    Given a notification listener "a" on topic "audit" for priority "info" that holds messages without acknowledging
    When a client sends 3 notifications with priority "info" to topic "audit"
    Then "a" receives exactly 3 notifications
    When a notification listener "b" on topic "audit" for priority "info" starts
    Then "b" receives no notifications
    When listener "a" dies
    Then "b" receives exactly the 3 notifications "a" held

  @C29
  Scenario: An RPC request is acknowledged before it is processed and never delivered twice
    Given an RPC server "host1" on topic "calc" that never answers
    When a client casts 3 messages to topic "calc"
    Then "host1" receives exactly 3 requests
    When an RPC server "host2" on topic "calc" starts
    And listener "host1" dies
    Then "host2" receives no requests

  @C30
  Scenario: Requeue is either refused as not implemented or delivers the message again
    Given a notification listener "a" on topic "audit" for priority "info" that requeues each message the first time it sees it
    When a client sends 3 notifications with priority "info" to topic "audit"
    Then if the driver supports requeue, "a" receives each notification exactly twice
    And if the driver does not support requeue, it says so with a not-implemented error

  @C30
  Scenario: A requeued message may go to another listener of the queue
    # In the background: through a router a released message goes back to
    # its sender, which keeps resending it until a listener accepts it.
    Given a notification listener "a" on topic "audit" for priority "info" that requeues every message it sees
    When a client sends 3 notifications with priority "info" to topic "audit" in the background
    Then if the driver supports requeue, "a" receives at least 3 notifications
    When a notification listener "b" on topic "audit" for priority "info" starts
    And listener "a" dies
    Then if the driver supports requeue, "b" receives each notification exactly once

  # Through a router a send waits for its listener's acknowledgement (C21),
  # so one sender cannot fill a listener that holds what it gets: a broker
  # scenario.
  @C31 @needs-prefetch @broker
  Scenario: A listener never holds more unacknowledged messages than its prefetch count
    Given listeners use a prefetch count of 5
    And a notification listener "a" on topic "audit" for priority "info" that holds messages without acknowledging
    When a client sends 20 notifications with priority "info" to topic "audit"
    Then "a" holds between 1 and 5 notifications
    When "a" acknowledges everything it holds and from now on acknowledges each message
    Then "a" receives exactly 20 notifications

  @C31 @needs-prefetch @needs-faults @broker
  Scenario: The prefetch bound holds across a reconnect
    Given listeners use a prefetch count of 5
    And a notification listener "a" on topic "audit" for priority "info" that holds messages without acknowledging
    When a client sends 20 notifications with priority "info" to topic "audit"
    And the backend drops every connection
    Then "a" holds between 1 and 5 notifications
