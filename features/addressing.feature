Feature: Addressing
  A message reaches the listeners its target names and no others: the
  exchange and topic pick the service, the server picks one host of it, and
  fanout reaches every host once. Without fanout the hosts of a topic share
  the work. Topic, exchange and pool names below are made unique for each
  scenario, so scenarios never see each other's traffic.

  @C01
  Scenario: A listener receives what is sent to its exchange and topic, and nothing else
    Given a listener "nova" on topic "compute" in exchange "nova"
    And a listener "cinder" on topic "compute" in exchange "cinder"
    And a listener "network" on topic "network" in exchange "nova"
    When a client casts 3 messages to topic "compute" in exchange "nova"
    And a client casts 2 messages to topic "compute" in exchange "cinder"
    And a client casts 2 messages to topic "network" in exchange "nova"
    Then "nova" receives exactly 3 messages
    And "cinder" receives exactly 2 messages
    And "network" receives exactly 2 messages

  @C01
  Scenario: Listeners of different topics in the default exchange keep to their own topic
    Given a listener "compute" on topic "compute"
    And a listener "network" on topic "network"
    When a client casts 4 messages to topic "compute"
    Then "compute" receives exactly 4 messages
    And "network" receives no messages

  @C02
  Scenario: A message for one server reaches that server only
    Given a listener on topic "compute" with server "host1"
    And a listener on topic "compute" with server "host2"
    When a client casts 5 messages to topic "compute" on server "host1"
    Then the listener on "host1" receives exactly 5 messages
    And the listener on "host2" receives no messages

  @C02
  Scenario: A listener with a server name also receives messages for its whole topic
    Given a listener on topic "compute" with server "host1"
    When a client casts 3 messages to topic "compute"
    Then the listener on "host1" receives exactly 3 messages

  @C03
  Scenario: A fanout message reaches every listener of the topic exactly once
    Given listeners on topic "compute" with servers "host1, host2, host3"
    And a listener "anyone" on topic "compute"
    When a client casts 4 fanout messages to topic "compute"
    Then every listener receives exactly 4 messages
    And no listener receives the same message twice

  @C04
  Scenario: Without fanout each message reaches exactly one listener, and the work is balanced
    Given listeners on topic "compute" with servers "host1, host2, host3"
    When a client casts 300 messages to topic "compute"
    Then each message is received exactly once across all listeners
    And every listener receives at least 34 messages

  @C05
  Scenario: A message sent right after Listen returns is never missed
    When 5 times a listener starts on a fresh topic with a server and a client at once casts to its topic, to its server and as fanout
    Then every one of those listeners receives all 3 of its messages
