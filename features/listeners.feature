Feature: Listeners
  A listener hands out messages in batches, stops promptly, gives each
  message to the application in the order it was sent, and cleans up after
  itself.

  @C27
  Scenario: A poll returns as soon as a full batch is available
    Given a notification listener "batch" on topic "audit" for priority "info" taking batches of 5 with a batch timeout of 3 seconds
    When "batch" starts polling
    And a client sends 5 notifications with priority "info" to topic "audit" at once
    Then the poll returns 5 notifications within 1 second of the last send

  @C27
  Scenario: A partial batch is returned once the batch timeout has passed since its first message
    Given a notification listener "batch" on topic "audit" for priority "info" taking batches of 10 with a batch timeout of 1 second
    When "batch" starts polling
    And a client sends 3 notifications with priority "info" to topic "audit" at once
    Then the poll returns 3 notifications between 1 and 1.5 seconds after the first send

  # Through a router each send waits until a poll has taken its message
  # (C21), so sending everything before polling is a broker scenario; the
  # C27 property polls while it sends, on every backend.
  @C27 @broker
  Scenario: A poll never returns more than the batch size
    Given a notification listener "batch" on topic "audit" for priority "info" taking batches of 4 with a batch timeout of 0.2 seconds
    When a client sends 10 notifications with priority "info" to topic "audit"
    Then polling "batch" yields all 10 notifications in batches of at most 4

  @C27
  Scenario: A poll does not return an empty batch early
    Given a notification listener "batch" on topic "audit" for priority "info" taking batches of 5 with a batch timeout of 0.2 seconds
    When "batch" polls with a deadline of 1 second while nothing is sent
    Then the poll returns the context's deadline error and no messages after between 1 and 2 seconds

  @C28
  Scenario: Stopping a listener releases a blocked poll promptly
    Given a notification listener "batch" on topic "audit" for priority "info" taking batches of 1 with a batch timeout of 0 seconds
    When "batch" starts polling
    And listener "batch" is stopped
    Then the poll returns a closed error within 1 second
    And a later poll of "batch" returns a closed error within 1 second
    And cleaning up "batch" returns within 5 seconds

  @C28
  Scenario: A stopped listener receives nothing more
    Given a notification listener "a" on topic "audit" for priority "info"
    And a notification listener "b" on topic "audit" for priority "info"
    When a client sends 4 notifications with priority "info" to topic "audit"
    Then "a" and "b" together receive exactly 4 notifications
    When listener "a" is stopped and cleaned up
    And a client sends 4 notifications with priority "info" to topic "audit"
    Then "a" receives nothing more
    And "b" receives the other notifications

  @C28
  Scenario: Cleanup releases the goroutines of the listener
    # Another client sends, and has sent once before the count, so what
    # sending leaves behind (such as an AMQP 1.0 sender link cached for
    # default_sender_link_timeout) is not counted as the listener's.
    Given a client that has already cast 1 message to topic "warmup"
    And a notification listener "early" on topic "audit" for priority "info"
    And another client sends 1 notifications with priority "info" to topic "audit"
    And "early" receives exactly 1 notification
    And listener "early" is stopped and cleaned up
    And the goroutines running now are counted
    When that client listens for notifications on topic "audit" for priority "info" as "a"
    And another client sends 2 notifications with priority "info" to topic "audit"
    Then "a" receives exactly 2 notifications
    When listener "a" is stopped and cleaned up
    Then no goroutine started since the count is left within 1 second

  @C32
  Scenario: Casts from one sender to one listener arrive in the order they were sent
    Given a listener "a" on topic "ordered"
    When a client casts 100 messages to topic "ordered"
    Then "a" receives the messages in the order they were sent

  @C32
  Scenario: Notifications from one sender to one listener arrive in the order they were sent
    Given a notification listener "a" on topic "ordered" for priority "info"
    When a client sends 100 notifications with priority "info" to topic "ordered"
    Then "a" receives the messages in the order they were sent
