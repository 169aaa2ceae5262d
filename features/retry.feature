Feature: Retry, failover and bad input
  A send honours its retry budget: retry 0 makes one attempt, retry N at
  most N more, retry -1 keeps trying until the call's timeout or the
  caller's deadline. Retrying never duplicates a message. Bad credentials,
  unreachable hosts, malformed URLs, bad targets and oversized messages give
  a typed error promptly, and the driver keeps working for everything else.
  Scenarios tagged @needs-faults need a backend that can drop, refuse or
  stall connections on demand (the fake broker and router); elsewhere they
  are reported as not applicable. The scenario tagged @heavy sends a
  message over the backend's size limit (128 MiB for RabbitMQ); it is not
  applicable under the race detector unless SWITCHYARD_CONTRACT_HEAVY=1.

  @C14
  Scenario: With retry 0 a send to an unreachable backend fails promptly
    Given a client whose transport URL points at a closed port
    When that client casts 1 message to topic "compute" with retry 0
    Then the send fails with a delivery failure within 1 second

  @C14 @needs-faults
  Scenario: With retry 0 a send the backend cannot take fails promptly
    Given a client that has already cast 1 message to topic "compute"
    And the backend refuses new connections and drops the client's connections
    When that client casts 1 message to topic "compute" with retry 0
    Then the send fails with a delivery failure within 1 second

  @C15
  Scenario: With retry 1 a send to an unreachable backend gives up with a delivery failure
    Given a client whose transport URL points at a closed port
    When that client casts 1 message to topic "compute" with retry 1 and a deadline of 20 seconds
    Then the send fails with a delivery failure within 10 seconds

  @C15
  Scenario: With unlimited retry a cast keeps trying until the caller's deadline
    Given a client whose transport URL points at a closed port
    When that client casts 1 message to topic "compute" with retry -1 and a deadline of 2 seconds
    Then the send fails with the context's deadline error after between 1.9 and 3 seconds

  @C15
  Scenario: With unlimited retry a call keeps trying until its timeout
    Given a client whose transport URL points at a closed port
    When that client calls "ping" on topic "compute" with retry -1 and a timeout of 2 seconds
    Then the send fails with a timeout after between 1.9 and 3 seconds

  @C15 @needs-faults
  Scenario: With retry 2 the driver tries once and retries at most twice, then reports a delivery failure
    # The connection the send would use is gone, so its first attempt
    # connects too: retry 2 allows three connection attempts in all.
    Given a client that has already cast 1 message to topic "compute"
    And the backend refuses new connections and drops the client's connections
    When that client casts 1 message to topic "compute" with retry 2 and a deadline of 30 seconds
    Then the send fails with a delivery failure within 20 seconds
    And the backend saw the client try to connect at least once and at most 3 times after the drop

  @C16 @needs-faults
  Scenario Outline: Retrying after a dropped connection never duplicates a message
    Given a notification listener "audit" on topic "audit" for priority "info"
    And a client that has already cast 1 message to topic "warmup"
    And the backend will drop the client's connection <moment> its next publish
    When a client sends 10 notifications with priority "info" to topic "audit" with retry 3
    Then "audit" receives each notification it was sent at most once
    And "audit" receives every notification whose send succeeded

    Examples:
      | moment                          |
      | before                          |
      | after accepting but before confirming |
      | after confirming                |

  @C17 @broker
  Scenario: A cast that no queue can take is reported undeliverable when mandatory delivery is asked for
    When a client casts 1 message to topic "nobody-home" with mandatory delivery
    Then the send fails with an undeliverable error within 1 second

  @C17 @broker
  Scenario: A cast that no queue can take is dropped by the broker when mandatory delivery is not asked for
    When a client casts 1 message to topic "nobody-home"
    Then the send succeeded

  @C17 @broker @needs-faults
  Scenario: Nothing the broker acknowledged is lost across connection drops
    Given a notification listener "audit" on topic "audit" for priority "info"
    When a client sends 40 notifications with priority "info" to topic "audit" with retry -1 while the backend drops the listener's and the client's connections
    Then "audit" receives every notification whose send succeeded

  @C18
  Scenario: A client whose URL lists an unreachable host first works through the next host
    Given a listener "nova" on topic "compute"
    And a client whose transport URL lists an unreachable host before the backend
    When that client casts 3 messages to topic "compute"
    Then "nova" receives exactly 3 messages

  @C18 @needs-faults
  Scenario: After the connection drops, listeners resubscribe and senders reconnect
    Given a listener "nova" on topic "compute"
    And a client that has already cast 1 message to topic "compute"
    When the backend drops every connection
    And a client casts 5 messages to topic "compute" with retry -1
    Then "nova" receives at least 5 messages

  @C19
  Scenario: Wrong credentials give an authentication error promptly (after any delay the backend imposes)
    Given a listener "nova" on topic "compute"
    When a client with a wrong password casts 1 message to topic "compute" with retry 0
    Then the send fails with an authentication error within 1 second
    And a client can still cast to topic "compute" and "nova" receives it

  @C19
  Scenario: An unreachable host list gives a typed error promptly
    When a client whose hosts are all unreachable casts 1 message to topic "compute" with retry 0
    Then the send fails with a delivery failure within 1 second

  @C19
  Scenario: A malformed transport URL gives a URL error
    When a client is opened with a transport URL whose host has an unbalanced bracket
    Then opening fails with a URL error within 1 second

  @C19
  Scenario Outline: A bad target gives an invalid-target error and leaves the driver usable
    Given a listener "nova" on topic "compute"
    When a client <does something wrong>
    Then the send fails with an invalid-target error within 1 second
    And a client can still cast to topic "compute" and "nova" receives it

    Examples:
      | does something wrong                                  |
      | casts 1 message to an empty topic                     |
      | calls "ping" as fanout on topic "compute"              |
      | sends a notification to an empty topic                |
      | listens on an empty topic                             |

  @C19 @heavy
  Scenario: An oversized message gives a typed error and leaves the driver usable
    Given a listener "nova" on topic "compute"
    When a client casts a message larger than the backend accepts to topic "compute"
    Then the send fails with a typed error
    And a client can still cast to topic "compute" and "nova" receives it
