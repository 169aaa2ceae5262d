Feature: Notifications
  A notifier sends to "<topic>.<priority>"; listeners subscribe per topic
  and priority. Brokers keep notifications until someone listens. Pools let
  several applications each get their own copy while the members of one
  pool share the work. Version 2.0 notifications travel inside the oslo
  envelope, older versions bare; a listener decodes both to the same
  message.

  @C22
  Scenario: A notification reaches the listeners of its priority and no others
    Given a notification listener "info" on topic "notifications" for priority "info"
    And a notification listener "error" on topic "notifications" for priority "error"
    When a client sends 3 notifications with priority "info" to topic "notifications"
    Then "info" receives exactly 3 notifications
    And "error" receives no notifications

  @C22
  Scenario: A listener for several priorities receives each of them and nothing else
    Given a notification listener "ops" on topic "notifications" for priorities "warn, error"
    And a notification listener "info" on topic "notifications" for priority "info"
    When a client sends 2 notifications with priority "warn" to topic "notifications"
    And a client sends 2 notifications with priority "error" to topic "notifications"
    And a client sends 2 notifications with priority "info" to topic "notifications"
    Then "ops" receives exactly 4 notifications
    And "ops" received only notifications with priority "warn" or "error"
    And "info" receives exactly 2 notifications

  @C22 @needs-tap
  Scenario: The notification address is the topic, a dot and the priority
    Given the wire is watched at the address of topic "notifications" and priority "info"
    When a client sends 1 notification with priority "info" to topic "notifications"
    Then the wire shows exactly 1 message at that address

  @C23 @broker
  Scenario: A notification sent while nobody listens is delivered when a listener subscribes
    When a client sends 3 notifications with priority "info" to topic "notifications" while nobody listens
    And a notification listener "late" on topic "notifications" for priority "info" starts
    Then "late" receives exactly 3 notifications

  @C24 @router
  Scenario: A notification without an active consumer is delivered later or reported as failed, never lost silently
    When a client sends 1 notification with priority "info" to topic "notifications" with retry 0 and a deadline of 2 seconds
    And a notification listener "late" on topic "notifications" for priority "info" starts
    Then either the send failed or "late" receives exactly 1 notification

  @C25
  Scenario: Each pool receives one copy of each notification, shared out within the pool
    Given notification listeners "a1, a2" in pool "alpha" on topic "notifications" for priority "info"
    And notification listeners "b1" in pool "beta" on topic "notifications" for priority "info"
    And notification listeners "n1, n2" without a pool on topic "notifications" for priority "info"
    When a client sends 60 notifications with priority "info" to topic "notifications"
    Then if the driver supports pools, pool "alpha" receives each notification exactly once
    And if the driver supports pools, pool "beta" receives each notification exactly once
    And the listeners without a pool receive each notification exactly once between them
    And if the driver supports pools, every listener of pool "alpha" receives at least 10 notifications
    And if the driver does not support pools, it says so with a not-implemented error

  @C26
  Scenario Outline: Notifications of envelope version <version> decode to the same message
    Given a notification listener "audit" on topic "audit" for priority "info"
    When a client sends a notification with priority "info" to topic "audit" as version "<version>" with payload {"instance": "ü-42", "flavor": {"vcpus": 2, "tags": ["a", null]}}
    Then "audit" receives that notification unchanged

    Examples:
      | version |
      | 1.0     |
      | 2.0     |

  @C26 @needs-tap
  Scenario Outline: Version 2.0 travels in the envelope, older versions bare
    Given the wire is watched at the address of topic "audit" and priority "info"
    When a client sends a notification with priority "info" to topic "audit" as version "<version>" with payload {"n": 1}
    Then the wire shows that notification <form>

    Examples:
      | version | form                   |
      | 1.0     | as a bare message      |
      | 2.0     | inside the 2.0 envelope |
