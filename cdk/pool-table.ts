/**
 * The pool table: amphora records, the planner lease, counters and pool state, orphan marks and
 * the noop driver's cloud. Keys, indexes and the TTL attribute come from the deployment contract
 * (`POOL_TABLE`), the same definition the local emulators create. A `dynamodb.Table` (not
 * `TableV2`): the deploy tier's emulator creates only the former.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import {
  type IndexDefinition,
  type KeyAttribute,
  POOL_TABLE,
  type TableDefinition,
} from '../lib/config/deployment.ts';

const ATTRIBUTE_TYPES = { S: dynamodb.AttributeType.STRING } as const;

/** Properties of a {@link PoolTable}. */
export interface PoolTableProps {
  /**
   * The table's keys, indexes, TTL attribute and billing mode.
   * @default POOL_TABLE
   */
  readonly definition?: TableDefinition;
  /**
   * What happens to the table when it leaves the stack. The records are the only account of
   * which servers the service booted, so they outlive the stack unless told otherwise.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The DynamoDB table and the exact grants on it. */
export class PoolTable extends Construct {
  /** The table. */
  readonly table: dynamodb.Table;
  private readonly definition: TableDefinition;

  constructor(scope: Construct, id: string, props: PoolTableProps = {}) {
    super(scope, id);
    const t = props.definition ?? POOL_TABLE;
    this.definition = t;
    const attribute = (k: KeyAttribute) => ({ name: k.name, type: ATTRIBUTE_TYPES[k.type] });
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: attribute(t.partitionKey),
      sortKey: attribute(t.sortKey),
      billingMode: dynamodb.BillingMode[t.billingMode],
      timeToLiveAttribute: t.timeToLiveAttribute,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    for (const index of t.globalSecondaryIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        sortKey: attribute(index.sortKey),
        projectionType: dynamodb.ProjectionType[index.projectionType],
      });
    }
  }

  /** The ARNs of the table and of each of its indexes (named, not `index/*`). */
  get arns(): { table: string; indexes: string[] } {
    return {
      table: this.table.tableArn,
      indexes: this.definition.globalSecondaryIndexes.map(
        (i) => `${this.table.tableArn}/index/${i.indexName}`,
      ),
    };
  }

  /**
   * Statements allowing `actions` on the table, and `Query` on each of `queryIndexes` (named,
   * never `index/*`). Never a wildcard action, never `Scan`: a caller names what it uses.
   */
  statements(
    sid: string,
    actions: readonly DynamoDbAction[],
    options: { readonly queryIndexes?: readonly IndexDefinition[] } = {},
  ): iam.PolicyStatement[] {
    const { table } = this.arns;
    const statements = [
      new iam.PolicyStatement({
        sid,
        actions: actions.map((a) => `dynamodb:${a}`),
        resources: [table],
      }),
    ];
    if (options.queryIndexes && options.queryIndexes.length > 0) {
      const known = new Set(this.definition.globalSecondaryIndexes.map((i) => i.indexName));
      for (const i of options.queryIndexes) {
        if (!known.has(i.indexName)) throw new Error(`the table has no index ${i.indexName}`);
      }
      statements.push(
        new iam.PolicyStatement({
          sid: `${sid}Indexes`,
          actions: ['dynamodb:Query'],
          resources: options.queryIndexes.map((i) => `${table}/index/${i.indexName}`),
        }),
      );
    }
    return statements;
  }
}

/** The DynamoDB actions a function may be granted. `Scan` is deliberately not one of them. */
export type DynamoDbAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'ConditionCheckItem';
