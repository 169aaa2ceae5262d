Feature: Lifecycle and interoperability
  Closing a driver releases everything it holds; every later call fails
  with a closed error instead of panicking or hanging. Every blocking call
  honours its context. And a Switchyard service talks to a Python
  oslo.messaging service on the same backend as if both were Python.

  @C33
  Scenario: After close every call fails with a closed error
    Given a client that has already cast 1 message to topic "warmup"
    When that client is closed
    Then every operation of that client fails with a closed error within 1 second
    And closing that client again does not panic

  @C33
  Scenario: Close releases every goroutine of the driver
    Given the goroutines running now are counted
    And a listener "nova" on topic "compute"
    When a client casts 3 messages to topic "compute"
    Then "nova" receives exactly 3 messages
    When every driver of this scenario is closed
    Then no goroutine started since the count is left within 1 second

  @C33
  Scenario: Close stops the listeners of the driver
    Given a listener "nova" on topic "compute"
    When listener "nova" dies
    Then polling "nova" returns a closed error within 1 second

  @C34
  Scenario: A call returns promptly with the context's error when its context is cancelled
    Given an RPC server on topic "calc" that never answers
    When a client calls "sleep" on topic "calc" with a timeout of 10 seconds and cancels after 0.5 seconds
    Then the call fails with the context's cancellation error within 1 second of the cancellation

  @C34
  Scenario Outline: Every blocking operation honours an already cancelled context
    Given a listener "nova" on topic "compute"
    When a client <operation> with a context that is already cancelled
    Then the operation fails with the context's cancellation error within 1 second
    And a client can still cast to topic "compute" and "nova" receives it

    Examples:
      | operation                                      |
      | casts 1 message to topic "compute"              |
      | calls "ping" on topic "compute"                 |
      | sends a notification to topic "audit"          |
      | listens on topic "other"                       |
      | listens for notifications on topic "audit"     |

  @C34
  Scenario: A poll returns promptly with the context's error at its deadline
    Given a listener "nova" on topic "compute"
    When "nova" polls with a deadline of 0.5 seconds while nothing is sent
    Then the poll returns the context's deadline error and no messages after between 0.5 and 1.5 seconds

  @C35 @interop
  Scenario: A Python client calls a Switchyard server
    Given an RPC server on topic "calc" that echoes what it is sent
    When a Python oslo.messaging client calls "echo" on topic "calc" with the value {"x": ["ü", 1, null]}
    Then the Python call returns {"x": ["ü", 1, null]}

  @C35 @interop
  Scenario: A Switchyard client calls a Python server
    Given a Python oslo.messaging RPC server on topic "calc" that echoes what it is sent
    When a client calls "echo" on topic "calc" with the value {"x": ["ü", 1, null]}
    Then the call returns {"x": ["ü", 1, null]}

  @C35 @interop
  Scenario: A Python fanout cast reaches every Switchyard listener
    Given listeners on topic "compute" with servers "host1, host2"
    When a Python oslo.messaging client casts 2 fanout messages to topic "compute"
    Then every listener receives exactly 2 messages

  @C35 @interop
  Scenario Outline: A Python notifier's notifications reach a Switchyard listener
    Given a notification listener "audit" on topic "audit" for priority "info"
    When a Python oslo.messaging notifier with driver "<driver>" sends 2 notifications with priority "info" to topic "audit"
    Then "audit" receives exactly 2 notifications

    Examples:
      | driver      |
      | messaging   |
      | messagingv2 |

  @C35 @interop
  Scenario: A Python client sees a Switchyard server's failure as the same exception
    Given an RPC server on topic "calc" that fails with "ValueError" from module "builtins" saying "bad input"
    When a Python oslo.messaging client calls "echo" on topic "calc" with the value 1
    Then the Python call raises "ValueError" with message "bad input"
