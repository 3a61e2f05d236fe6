import { pino } from 'pino';

/** A logger for tests: silent unless FLOWWATCH_TEST_LOG=debug|info|... */
export const silentLogger = pino({ level: process.env.FLOWWATCH_TEST_LOG ?? 'silent' });
