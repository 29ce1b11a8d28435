package kstreamsbench;

import org.apache.kafka.common.serialization.Deserializer;

/**
 * Value deserializer of the raw topic: validation (outcomes 1-4) happens here, once per record,
 * and never throws, so no record is lost to a deserialization-exception handler.
 */
final class MsgDeserializer implements Deserializer<Msg> {
    private final Validator validator;

    MsgDeserializer(int maxEventBytes) {
        this.validator = new Validator(maxEventBytes);
    }

    @Override
    public Msg deserialize(String topic, byte[] data) {
        return validator.parse(data);
    }
}
