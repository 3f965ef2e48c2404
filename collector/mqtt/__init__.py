"""The live view on MQTT: every reading's latest state, retained, and Home Assistant's discovery.

MQTT is the house's live view, not a second database: the latest reading of each device is
published (QoS `MQTT_QOS`, retained), never a backlog, and a broker that is away or slow never
delays a poll or a write to InfluxDB.

- `settings`: `[mqtt]` and `MQTT_*`;
- `topics`: the topic names and a reading's state message;
- `discovery`: Home Assistant's device and entity configurations, from the field catalogues;
- `publisher`: the connection to the broker (aiomqtt), which publishes what is new.
"""
