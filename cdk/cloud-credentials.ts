/**
 * The OpenStack credentials of the openstack driver, in Secrets Manager: a clouds.yaml entry as
 * JSON or a flat object of `OS_*` variables (docs/openstack.md §2.3). Either an existing secret,
 * by complete ARN or by name, or one created here holding `{}` for the operator to fill. Only the
 * executor gets a statement to read it.
 */
import { RemovalPolicy, SecretValue } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** Properties of {@link CloudCredentials}. */
export interface CloudCredentialsProps {
  /**
   * The complete ARN of an existing secret.
   * @default - none: `secretName`, or a new secret
   */
  readonly secretArn?: string;
  /**
   * The name of an existing secret.
   * @default - none: `secretArn`, or a new secret
   */
  readonly secretName?: string;
  /**
   * The customer-managed KMS key that encrypts an existing secret.
   * @default - the secret uses the account's `aws/secretsmanager` key, which needs no grant
   */
  readonly kmsKeyArn?: string;
}

/** The secret holding the driver's cloud credentials. */
export class CloudCredentials extends Construct {
  /** The secret. */
  readonly secret: secretsmanager.ISecret;
  /** Whether this stack created it (and the operator still has to fill it). */
  readonly created: boolean;
  /** The value the executor's environment names the secret by. */
  readonly secretId: string;
  private readonly iamResource: string;
  private readonly kmsKeyArn: string | undefined;

  constructor(scope: Construct, id: string, props: CloudCredentialsProps = {}) {
    super(scope, id);
    this.kmsKeyArn = props.kmsKeyArn;
    if (props.secretArn) {
      this.secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'Secret', props.secretArn);
      this.created = false;
      this.secretId = props.secretArn;
      this.iamResource = props.secretArn;
    } else if (props.secretName) {
      this.secret = secretsmanager.Secret.fromSecretNameV2(this, 'Secret', props.secretName);
      this.created = false;
      // A partial ARN: Secrets Manager resolves it, and IAM matches the six-character suffix
      // that Secrets Manager appends to every secret's ARN.
      this.secretId = this.secret.secretArn;
      this.iamResource = `${this.secret.secretArn}-??????`;
    } else {
      this.secret = new secretsmanager.Secret(this, 'Secret', {
        description:
          'OpenStack credentials of amphora-housekeeper: a clouds.yaml entry as JSON, or the OS_* variables (docs/openstack.md)',
        // Not a credential: an empty object, so that the executor's error names every missing
        // field until the operator puts the real value (put-secret-value) in.
        secretStringValue: SecretValue.unsafePlainText('{}'),
        // The credentials outlive a stack that is torn down and set up again.
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.created = true;
      this.secretId = this.secret.secretArn;
      this.iamResource = this.secret.secretArn;
    }
  }

  /** What the executor needs to read the credentials: the value, and its key's decryption. */
  statements(): iam.PolicyStatement[] {
    const statements = [
      new iam.PolicyStatement({
        sid: 'ReadCloudCredentials',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.iamResource],
      }),
    ];
    if (this.kmsKeyArn) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'DecryptCloudCredentials',
          actions: ['kms:Decrypt'],
          resources: [this.kmsKeyArn],
          // Only when Secrets Manager decrypts the secret for the executor, never directly.
          conditions: {
            StringEquals: {
              'kms:ViaService': `secretsmanager.${this.secret.stack.region}.amazonaws.com`,
            },
          },
        }),
      );
    }
    return statements;
  }
}
