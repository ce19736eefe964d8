package io.qjournal.qcow2.check;

/** TEMP stub: the real one comes from branch check. */
public enum RepairMode { NONE, LEAKS, ALL }
