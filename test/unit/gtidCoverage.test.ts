import { describe, expect, it } from 'vitest';
import { gtidCovered } from '../../src/pipeline/gtidCoverage.js';
import { MYSQL84_GTID_EXECUTED, MYSQL84_UUID, MYSQL84_UUID2 } from '../fixtures/sourceServers.js';

/**
 * The edges of gtidCovered beyond the everyday cases in sourceIdentity.test.ts:
 * how each flavor's text is read (blank entries, whitespace, case, tags with
 * digits, multi-digit transaction numbers) and how MySQL intervals are merged.
 */

/** `@@gtid_executed` as MySQL 8.4 prints it: `,\n` between uuids. */
const EXECUTED_RAW = MYSQL84_GTID_EXECUTED; // uuid2:1-27,\nuuid:1-5:11-18:batch_job:1-3

describe('gtidCovered, MariaDB: a GTID position against @@gtid_binlog_state', () => {
  it('several entries for one domain-server pair: the highest sequence number counts, in either order', () => {
    expect(gtidCovered('0-1-42', '0-1-42,0-1-40')).toBe(true);
    expect(gtidCovered('0-1-42', '0-1-40,0-1-42')).toBe(true);
    expect(gtidCovered('0-1-42', '0-1-40,0-1-41')).toBe(false);
  });

  it('empty and blank entries name no domain: nothing more to hold', () => {
    expect(gtidCovered('0-1-42,,1-2-7, ', '0-1-42,1-2-7')).toBe(true);
    expect(gtidCovered('', '0-1-40,0-2-41')).toBe(true);
  });
});

describe('gtidCovered, MySQL: a GTID set against @@gtid_executed', () => {
  it('reads @@gtid_executed with its `,\\n` separators as printed', () => {
    expect(gtidCovered(`${MYSQL84_UUID}:1-5`, EXECUTED_RAW)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:11-18:batch_job:1-3`, EXECUTED_RAW)).toBe(true);
  });

  it('a multi-digit transaction past the end (uuid2:28 against uuid2:1-27) is not covered', () => {
    expect(gtidCovered(`${MYSQL84_UUID2}:28`, EXECUTED_RAW)).toBe(false);
    expect(gtidCovered(`${MYSQL84_UUID}:11-19`, EXECUTED_RAW)).toBe(false);
    expect(gtidCovered(`${MYSQL84_UUID2}:27`, EXECUTED_RAW)).toBe(true);
  });

  it('whitespace around a uuid is ignored, as position.ts accepts it: `uuid :1-5` is uuid:1-5', () => {
    expect(gtidCovered(`${MYSQL84_UUID} :1-5`, `${MYSQL84_UUID}:1-5`)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:1-5`, ` ${MYSQL84_UUID} : 1-5 `)).toBe(true);
  });

  it('whitespace around an interval is ignored: ` 19` is transaction 19, not a tag', () => {
    expect(gtidCovered(`${MYSQL84_UUID}:1-5: 19`, `${MYSQL84_UUID}:1-18`)).toBe(false);
    expect(gtidCovered(`${MYSQL84_UUID}: 1-5 : 11-18`, EXECUTED_RAW)).toBe(true);
  });

  it('a tag belongs to its uuid: batch_job of uuid does not cover batch_job of uuid2', () => {
    expect(gtidCovered(`${MYSQL84_UUID2}:batch_job:1`, EXECUTED_RAW)).toBe(false);
    expect(gtidCovered(`${MYSQL84_UUID}:batch_job:1`, EXECUTED_RAW)).toBe(true);
  });

  it('tags compare without regard to case or surrounding whitespace, like uuids', () => {
    expect(gtidCovered(`${MYSQL84_UUID}:BATCH_JOB:2`, EXECUTED_RAW)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:1-5: batch_job :2`, EXECUTED_RAW)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:Batch_Job:4`, EXECUTED_RAW)).toBe(false);
  });

  it('a tag ending in digits (job2) is a tag, not transaction 2 of the uuid', () => {
    const have = `${MYSQL84_UUID}:1-5:batch_job:1-3:job2:1-9`;
    expect(gtidCovered(`${MYSQL84_UUID}:job2:7`, have)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:job2:10`, have)).toBe(false);
    expect(gtidCovered(`${MYSQL84_UUID}:7`, have)).toBe(false);
  });

  it('an item that is not a whole interval (1-5x) covers nothing: never read by its leading digits', () => {
    expect(gtidCovered(`${MYSQL84_UUID}:1-5`, `${MYSQL84_UUID}:1-5x`)).toBe(false);
  });

  it('an entry without a uuid before its colon (:7) names no server and is skipped', () => {
    expect(gtidCovered(`${MYSQL84_UUID}:1-5,:7`, `${MYSQL84_UUID}:1-5`)).toBe(true);
  });

  it('unsorted intervals are sorted before merging: uuid:11-18:1-5 still holds 1-5', () => {
    expect(gtidCovered(`${MYSQL84_UUID}:1-5`, `${MYSQL84_UUID}:11-18:1-5`)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:1-18`, `${MYSQL84_UUID}:11-18:6-10:1-5`)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:6-10`, `${MYSQL84_UUID}:11-18:1-5`)).toBe(false);
  });

  it('an interval inside another (1-18 then 3-5, or in two entries) does not shrink it', () => {
    expect(gtidCovered(`${MYSQL84_UUID}:10`, `${MYSQL84_UUID}:1-18:3-5`)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:10`, `${MYSQL84_UUID}:1-18,${MYSQL84_UUID}:3-5`)).toBe(
      true,
    );
    expect(gtidCovered(`${MYSQL84_UUID}:1-20`, `${MYSQL84_UUID}:1-10:5-18`)).toBe(false);
  });
});
