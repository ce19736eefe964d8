package io.qjournal.jmx;

import java.util.Map;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanOperationInfo;
import javax.management.MBeanParameterInfo;
import javax.management.NotificationEmitter;
import javax.management.StandardEmitterMBean;

/**
 * An MXBean with real descriptions and parameter names, so jconsole's tooltips and jmxterm's
 * {@code info} explain each attribute instead of showing the generic reflection text.
 */
final class DescribedMBean<T> extends StandardEmitterMBean {
    private final String description;
    private final Map<String, String> descriptions;
    private final Map<String, String[]> parameterNames;

    DescribedMBean(T impl, Class<T> mxbeanInterface, NotificationEmitter emitter, String description,
            Map<String, String> descriptions, Map<String, String[]> parameterNames) {
        super(impl, mxbeanInterface, true, emitter);
        this.description = description;
        this.descriptions = descriptions;
        this.parameterNames = parameterNames;
    }

    @Override
    protected String getDescription(MBeanInfo info) {
        return description;
    }

    @Override
    protected String getDescription(MBeanAttributeInfo info) {
        return descriptions.getOrDefault(info.getName(), info.getDescription());
    }

    @Override
    protected String getDescription(MBeanOperationInfo info) {
        return descriptions.getOrDefault(info.getName(), info.getDescription());
    }

    @Override
    protected String getParameterName(MBeanOperationInfo op, MBeanParameterInfo param, int sequence) {
        String[] names = parameterNames.get(op.getName());
        return names != null && sequence < names.length ? names[sequence] : param.getName();
    }
}
