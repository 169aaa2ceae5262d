Feature: RPC calls and casts
  A call waits for the server's reply and returns exactly that reply, to
  the caller that asked, once. A cast returns as soon as the backend has the
  message. The RPC servers here are small Switchyard servers: they poll
  their listener, acknowledge each request and answer it as the scenario
  says.

  @C06
  Scenario Outline: A call returns exactly the value the server replied
    Given an RPC server on topic "calc" that echoes what it is sent
    When a client calls "echo" on topic "calc" with the value <value>
    Then the call returns <value>

    Examples:
      | value                                                        |
      | null                                                         |
      | 42                                                           |
      | -7.25                                                        |
      | true                                                         |
      | "héllo wörld ✓ 𝄞 日本語"                                      |
      | []                                                           |
      | {"a": [1, 2, {"b": null}], "c": {"d": {"e": ["f", false]}}} |

  @C06
  Scenario: A call carries a 1 MiB nested reply intact
    Given an RPC server on topic "calc" that echoes what it is sent
    When a client calls "echo" on topic "calc" with a nested value of 1 MiB
    Then the call returns that nested value

  @C07
  Scenario: 64 concurrent calls each receive their own reply
    Given 3 RPC servers on topic "calc" that answer after a random delay of up to 200 ms
    When a client makes 64 concurrent calls to topic "calc"
    Then every call returns the reply to its own request
    And every request reached a server exactly once

  @C08
  Scenario: A call nobody answers fails with a timeout, neither early nor late
    Given an RPC server on topic "calc" that never answers
    When a client calls "sleep" on topic "calc" with a timeout of 1 second
    Then the call fails with a timeout after between 1 and 2 seconds

  @C08
  Scenario: A reply that arrives after the timeout is never delivered to a later call
    Given an RPC server on topic "calc" that answers "slow" after 1.5 seconds and everything else at once
    When a client calls "slow" on topic "calc" with a timeout of 1 second
    Then the call fails with a timeout after between 1 and 2 seconds
    When the same client keeps calling "fast" on topic "calc" for 2 seconds
    Then every call returns the reply to its own request

  @C09
  Scenario: A cast returns without waiting for the server and produces no reply
    Given an RPC server on topic "calc" that takes 2 seconds per request
    When a client casts 1 message to topic "calc"
    Then the cast returned within 1 second and gave no reply value
    And "server" receives exactly 1 request
    And a following call from the same client to topic "calc" returns its own reply

  @C10
  Scenario: A server failure comes back as a remote error carrying its details
    Given an RPC server on topic "calc" that fails with "ValueError" from module "builtins" saying "division by zero"
    When a client calls "divide" on topic "calc"
    Then the call fails with a remote error of class "ValueError" from module "builtins" with message "division by zero"
    And the remote error carries the arguments ["division by zero"]
    And the remote error is rebuilt as its own class

  @C10
  Scenario: A failure from a module the client does not allow becomes a generic remote error
    Given an RPC server on topic "calc" that fails with "InstanceNotFound" from module "nova.exception" saying "instance 42 not found"
    When a client calls "show" on topic "calc"
    Then the call fails with a remote error of class "InstanceNotFound" from module "nova.exception" with message "instance 42 not found"
    And the remote error is a generic remote error

  @C10
  Scenario: A failure from an allowed module is rebuilt as its own class
    Given an RPC server on topic "calc" that fails with "InstanceNotFound" from module "nova.exception" saying "instance 42 not found"
    And a client that allows remote exceptions from module "nova.exception"
    When a client calls "show" on topic "calc"
    Then the call fails with a remote error of class "InstanceNotFound" from module "nova.exception" with message "instance 42 not found"
    And the remote error is rebuilt as its own class

  @C11
  Scenario: A reply the server sends twice is seen once
    Given an RPC server on topic "calc" that answers every request twice
    When a client makes 10 calls to topic "calc" one after another
    And a client makes 16 concurrent calls to topic "calc"
    Then every call returns the reply to its own request

  @C12
  Scenario: Heartbeats keep a monitored call alive past its call monitor timeout
    Given an RPC server on topic "calc" that heartbeats every 1 second and answers after 4 seconds
    When a client calls "long" on topic "calc" with a timeout of 6 seconds and a call monitor timeout of 2 seconds
    Then the call returns its own reply after at least 4 seconds

  @C12
  Scenario: A server that stops heartbeating fails the call within the monitor bound
    Given an RPC server on topic "calc" that heartbeats every 1 second for 1 second and then goes silent
    When a client calls "stall" on topic "calc" with a timeout of 10 seconds and a call monitor timeout of 2 seconds
    Then the call fails with a timeout within 3 seconds of the server's last heartbeat

  @C13
  Scenario: A call to a topic nobody listens on fails within its timeout
    When a client calls "ping" on topic "nobody-home" with a timeout of 1 second
    Then the call fails with a timeout or an undeliverable error within 2 seconds
